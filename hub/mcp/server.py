"""The MCP server: the SDK's low-level `Server`, whose tools and resources are read from the
running hub at each request, so new devices and third-party actions appear by themselves.

Whose token: over stdio, the one agent token `hub mcp` was started with. Over streamable HTTP
each MCP client may send its own hub token as `Authorization: Bearer ...` (forwarded to the
hub, never stored); a client that sends none acts with the server's token, when it has one.
Either way the hub authenticates, governs and audits every call as that agent.

Resources: each device is `hub://devices/{id}`. Subscriptions are served in both protocol
eras: `resources/subscribe` (2025 handshake era; updates are `notifications/resources/updated`
on the session) and `subscriptions/listen` (2026-07-28). Updates come from the hub's
WebSocket event stream, one stream per agent token while it has subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from hub import __version__
from hub.mcp.events import EventStream
from hub.mcp.hubapi import HubApi, HubApiError
from hub.mcp.tools import READ_TOOLS, Toolbox, failed, hub_error

log = logging.getLogger(__name__)

RESOURCE_NOT_FOUND = -32002  # the MCP specification's code for an unknown resource
URI_PREFIX = "hub://devices/"
READY_TIMEOUT = 10.0  # seconds a subscription waits for the event stream to be live

INSTRUCTIONS = """\
Hub controls media players: speakers, streaming accounts and virtual players. Find devices
with list_devices and pass a device by the name it shows (e.g. "Living Room") or by its id.
now_playing answers "what's playing?". Every control request is checked against this agent's
maturity by the hub and recorded in its audit log; a refusal says which maturity is required.
Set dry_run to check a request without acting."""


class NoToken(Exception):
    """An HTTP client sent no token and the server was started without one."""


def device_uri(device_id: str) -> str:
    return URI_PREFIX + quote(device_id, safe="")


def uri_device(uri: str) -> str:
    if not uri.startswith(URI_PREFIX) or len(uri) == len(URI_PREFIX):
        raise MCPError(RESOURCE_NOT_FOUND, f"not a device resource: {uri[:200]!r}; "
                                           f"device resources are {URI_PREFIX}{{id}}")
    return unquote(uri[len(URI_PREFIX):])


@dataclass(eq=False)
class Feed:
    """One agent token's resource subscribers and the event stream that serves them."""

    bus: InMemorySubscriptionBus = field(default_factory=InMemorySubscriptionBus)
    listen: ListenHandler = field(init=False)
    # per MCP connection (2025 era): its session (to notify) and the URIs it subscribed to
    legacy: dict[int, tuple[ServerSession, set[str]]] = field(default_factory=dict)
    listeners: int = 0
    stream: EventStream | None = None

    def __post_init__(self) -> None:
        self.listen = ListenHandler(self.bus, max_subscriptions=32)

    @property
    def idle(self) -> bool:
        return self.listeners == 0 and not any(uris for _, uris in self.legacy.values())


class HubMcp:
    """The MCP server of one `hub mcp` process."""

    def __init__(self, api: HubApi, token: str | None) -> None:
        self.api = api
        self.token = token
        self.toolbox = Toolbox(api)
        self.feeds: dict[str, Feed] = {}
        self.server: Server[Any] = Server(
            "hub", version=__version__, title="Hub", instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_subscriptions_listen=self._listen,
        )

    def initialization_options(self) -> Any:
        return self.server.create_initialization_options(
            NotificationOptions(resources_changed=True, tools_changed=True))

    async def close(self) -> None:
        for feed in self.feeds.values():
            if feed.stream is not None:
                await feed.stream.stop()
        self.feeds.clear()

    def token_of(self, ctx: ServerRequestContext[Any, Any]) -> str:
        headers = getattr(ctx.request, "headers", None)
        if headers is not None:
            auth = headers.get("authorization", "")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip()
        if self.token:
            return self.token
        raise NoToken("no hub token: send `Authorization: Bearer <agent token>` "
                      "(create one with `hub token create --kind agent`)")

    # -- tools -----------------------------------------------------------------------------------

    async def _list_tools(self, ctx: ServerRequestContext[Any, Any],
                          params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        try:
            tools = await self.toolbox.list_tools(self.token_of(ctx))
        except NoToken as err:
            raise MCPError(INVALID_PARAMS, str(err)) from None
        except HubApiError as err:
            # Without the catalog we still offer the read tools: their calls say what is wrong.
            log.warning("tools/list: the catalog is unavailable: %s", err)
            tools = list(READ_TOOLS)
        return types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: ServerRequestContext[Any, Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            return await self.toolbox.call(self.token_of(ctx), params.name, params.arguments)
        except NoToken as err:
            return failed(str(err))
        except Exception:
            # A bug here must cost one call, never the server.
            log.exception("tool %r failed", params.name)
            return failed("Internal error in hub mcp; see its log.")

    # -- resources -------------------------------------------------------------------------------

    async def _hub(self, ctx: ServerRequestContext[Any, Any], call: Any, *args: Any) -> Any:
        """A hub request for a resource handler; hub failures become MCP errors."""
        try:
            return await call(self.token_of(ctx), *args)
        except NoToken as err:
            raise MCPError(INVALID_PARAMS, str(err)) from None
        except HubApiError as err:
            code = RESOURCE_NOT_FOUND if err.status == 404 else (
                INVALID_PARAMS if 400 <= err.status < 500 else INTERNAL_ERROR)
            text = hub_error(err).content[0]
            raise MCPError(code, getattr(text, "text", str(err))) from None

    async def _list_resources(self, ctx: ServerRequestContext[Any, Any],
                              params: types.PaginatedRequestParams | None
                              ) -> types.ListResourcesResult:
        devices = await self._hub(ctx, self.api.devices)
        return types.ListResourcesResult(resources=[
            types.Resource(uri=device_uri(d["id"]), name=d["id"], title=d.get("name"),
                           description=f"{d.get('name')}: a {d.get('plugin')} device, "
                                       f"now {d.get('state')}",
                           mime_type="application/json")
            for d in devices])

    async def _list_resource_templates(self, ctx: ServerRequestContext[Any, Any],
                                       params: types.PaginatedRequestParams | None
                                       ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[types.ResourceTemplate(
            uri_template=URI_PREFIX + "{id}", name="device", title="A device",
            description="One device's state and attributes (JSON), by device id.",
            mime_type="application/json")])

    async def _read_resource(self, ctx: ServerRequestContext[Any, Any],
                             params: types.ReadResourceRequestParams
                             ) -> types.ReadResourceResult:
        device = await self._hub(ctx, self.api.device, uri_device(params.uri))
        return types.ReadResourceResult(contents=[types.TextResourceContents(
            uri=params.uri, mime_type="application/json", text=json.dumps(device))])

    async def _subscribe(self, ctx: ServerRequestContext[Any, Any],
                         params: types.SubscribeRequestParams) -> types.EmptyResult:
        await self._hub(ctx, self.api.device, uri_device(params.uri))  # exists, readable
        token = self.token_of(ctx)
        feed = self._feed(token)
        key = _connection_key(ctx)
        if key not in feed.legacy:
            feed.legacy[key] = (ctx.session, set())
            _on_close(ctx, lambda: self._drop_connection(token, key))
        feed.legacy[key][1].add(params.uri)
        await self._stream_ready(token, feed)
        return types.EmptyResult()

    async def _unsubscribe(self, ctx: ServerRequestContext[Any, Any],
                           params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        token = self.token_of(ctx)
        feed = self.feeds.get(token)
        if feed is not None:
            entry = feed.legacy.get(_connection_key(ctx))
            if entry is not None:
                entry[1].discard(params.uri)
            await self._release(token)
        return types.EmptyResult()

    async def _listen(self, ctx: ServerRequestContext[Any, Any],
                      params: types.SubscriptionsListenRequestParams
                      ) -> types.SubscriptionsListenResult:
        token = self.token_of(ctx)
        feed = self._feed(token)
        feed.listeners += 1
        try:
            await self._stream_ready(token, feed)
            return await feed.listen(ctx, params)
        finally:
            feed.listeners -= 1
            await self._release(token)

    # -- the event streams -----------------------------------------------------------------------

    def _feed(self, token: str) -> Feed:
        feed = self.feeds.get(token)
        if feed is None:
            feed = self.feeds[token] = Feed()
        return feed

    async def _stream_ready(self, token: str, feed: Feed) -> None:
        """Start the token's event stream if needed and wait (bounded) until it is live, so a
        change made after the subscription answered is never missed."""
        if feed.stream is None:
            feed.stream = EventStream(
                self.api.session, self.api.ws_url(), token,
                on_event=lambda kind, device: self._on_event(feed, kind, device),
                on_resync=lambda: self._resync(feed),
                on_end=lambda reason: self._stream_ended(token, feed, reason))
            feed.stream.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(feed.stream.wait_ready(), READY_TIMEOUT)

    def _stream_ended(self, token: str, feed: Feed, reason: str) -> None:
        if self.feeds.get(token) is feed:
            feed.stream = None  # the next subscription starts a new one

    async def _release(self, token: str) -> None:
        feed = self.feeds.get(token)
        if feed is not None and feed.idle:
            del self.feeds[token]
            if feed.stream is not None:
                await feed.stream.stop()

    def _drop_connection(self, token: str, key: int) -> None:
        feed = self.feeds.get(token)
        if feed is not None:
            feed.legacy.pop(key, None)
            if feed.idle:
                task = asyncio.get_running_loop().create_task(self._release(token))
                task.add_done_callback(lambda t: t.exception())

    async def _on_event(self, feed: Feed, kind: str, device_id: str) -> None:
        uri = device_uri(device_id)
        if kind != "state_changed":
            self.toolbox.forget()
            await feed.bus.publish(ResourcesListChanged())
            await feed.bus.publish(ToolsListChanged())
        await feed.bus.publish(ResourceUpdated(uri=uri))
        for session, uris in tuple(feed.legacy.values()):
            try:
                if kind != "state_changed":
                    await session.send_resource_list_changed()
                if uri in uris:
                    await session.send_resource_updated(uri)
            except Exception as err:  # a closed session: its cleanup removes it
                log.debug("cannot notify a session: %s", err)

    async def _resync(self, feed: Feed) -> None:
        """After a reconnect: changes may have been missed, so every subscriber re-reads."""
        uris = {u for _, us in feed.legacy.values() for u in us}
        for uri in uris:
            await feed.bus.publish(ResourceUpdated(uri=uri))
        for session, subscribed in tuple(feed.legacy.values()):
            for uri in subscribed:
                with contextlib.suppress(Exception):
                    await session.send_resource_updated(uri)


def _connection_key(ctx: ServerRequestContext[Any, Any]) -> int:
    # The low-level context exposes the per-request session only; its connection is what a
    # 2025-era subscription belongs to (one per stdio process or HTTP session).
    return id(_connection(ctx))


def _connection(ctx: ServerRequestContext[Any, Any]) -> Any:
    return getattr(ctx.session, "_connection", ctx.session)


def _on_close(ctx: ServerRequestContext[Any, Any], callback: Any) -> None:
    stack = getattr(_connection(ctx), "exit_stack", None)
    if stack is not None:
        stack.callback(callback)
