"""The MCP server's only way into the hub: its public REST API and WebSocket, with the agent's
own bearer token, declaring itself with `X-Hub-Client: mcp` so the audit records `source: mcp`.

Nothing here imports the hub's internals: every request is authenticated, governed, rate
limited and audited by the running hub exactly as any other client's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

CLIENT_HEADER = {"X-Hub-Client": "mcp"}
REQUEST_TIMEOUT = 30.0  # seconds; the hub answers a plugin timeout (504) well before


@dataclass
class HubApiError(Exception):
    """A failure answered by the hub (its one error shape), or the hub not being reachable
    (status 0)."""

    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class HubApi:
    """REST calls to one hub; the token is given per call (one MCP server, several agents over
    HTTP). One aiohttp session for the server's life."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HubApi:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT), headers=CLIENT_HEADER)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HubApi is used outside its `async with`")
        return self._session

    async def request(self, token: str, method: str, path: str, *,
                      params: dict[str, str] | None = None, json_body: Any = None) -> Any:
        """Send one request; answer the parsed JSON body or raise HubApiError."""
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.session.request(method, self.url + path, headers=headers,
                                            params=params, json=json_body) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            raise HubApiError(0, "hub_unreachable",
                              f"the hub at {self.url} did not answer ({type(err).__name__}); "
                              "is `hub run` going?") from None
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        if status >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if not isinstance(error, dict):
                raise HubApiError(status, "http_error", f"the hub answered {status}")
            details = {k: v for k, v in error.items() if k not in ("code", "message")}
            raise HubApiError(status, str(error.get("code", "error")),
                              str(error.get("message", "")), details)
        return body

    # -- the routes the tools use ----------------------------------------------------------------

    async def devices(self, token: str, *, match: str | None = None,
                      plugin: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("match", match), ("plugin", plugin)) if v}
        body = await self.request(token, "GET", "/devices", params=params or None)
        return list(body.get("devices", []))

    async def device(self, token: str, device: str) -> dict[str, Any]:
        return await self.request(token, "GET", "/devices/" + quote(device, safe=""))

    async def catalog(self, token: str) -> dict[str, Any]:
        body = await self.request(token, "GET", "/actions/catalog")
        return body if isinstance(body, dict) else {}

    async def search(self, token: str, query: dict[str, Any]) -> dict[str, Any]:
        return await self.request(token, "GET", "/media/search", params=_query(query))

    async def browse(self, token: str, query: dict[str, Any]) -> dict[str, Any]:
        return await self.request(token, "GET", "/media/browse", params=_query(query))

    async def act(self, token: str, device: str, action: str, params: dict[str, Any],
                  dry_run: bool) -> dict[str, Any]:
        return await self.request(token, "POST", "/actions", json_body={
            "device": device, "action": action, "params": params, "dry_run": dry_run})

    def ws_url(self) -> str:
        return ("ws" + self.url[4:] if self.url.startswith("http") else self.url) + "/ws"


def _query(args: dict[str, Any]) -> dict[str, str]:
    """Tool arguments as a query string: lists comma-separated, as the hub's routes take them."""
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v)
            for k, v in args.items() if v is not None}
