"""`hub mcp`: an MCP server that lets AI agents use the hub under its governance.

    hubapi.py   the only way in: the hub's public REST API and WebSocket, with the agent's token
    tools.py    the tools (read tools, and control tools built from /actions/catalog)
    events.py   device changes from the hub's event stream, for resource subscriptions
    server.py   the SDK's low-level Server: tools, resources, subscriptions

It imports nothing of the hub's core: the hub authenticates, governs, rate limits and audits
every call exactly as it does any client's (the audit records `source: mcp`). See
docs/agents.md.
"""

from __future__ import annotations

from typing import Any


async def serve_stdio(url: str, token: str) -> None:
    """Serve one MCP client over stdin/stdout until it closes them."""
    from mcp.server.stdio import stdio_server

    from hub.mcp.hubapi import HubApi
    from hub.mcp.server import HubMcp

    async with HubApi(url) as api:
        app = HubMcp(api, token)
        try:
            async with stdio_server() as (read, write):
                await app.server.run(read, write, app.initialization_options())
        finally:
            await app.close()


async def serve_http(url: str, token: str | None, host: str, port: int) -> None:
    """Serve MCP clients over the SDK's streamable HTTP transport at http://host:port/mcp."""
    import uvicorn

    from hub.mcp.hubapi import HubApi
    from hub.mcp.server import HubMcp

    async with HubApi(url) as api:
        app = HubMcp(api, token)
        asgi: Any = app.server.streamable_http_app(host=host)
        config = uvicorn.Config(asgi, host=host, port=port, log_level="warning",
                                lifespan="on", access_log=False)
        try:
            await uvicorn.Server(config).serve()
        finally:
            await app.close()
