"""The WebSocket API: `GET /ws`, in the spirit of Home Assistant's.

    server: {"type": "auth_required", "hub_version": "0.1.0"}
    client: {"type": "auth", "access_token": "..."}
    server: {"type": "auth_ok", "hub_version": "0.1.0"}     (or auth_invalid, then close)
    client: {"id": 1, "type": "subscribe", "event_types": ["state_changed"]}
    server: {"id": 1, "type": "result", "success": true, "result": null}
    server: {"id": 1, "type": "event",
             "event": {"type": "state_changed", "time": ..., "data": {...}}}

Commands are id-tagged with ids strictly increasing per connection. `act` goes through the one
action pipeline (`hub.pipeline.execute`, source "ws"), so it is governed, audited and fails
with the same error codes as `POST /actions`. The protocol is documented in docs/api.md.

Each socket has one reader (this handler) and one writer task. Results and events are queued
for the writer, never written by the publisher: the event bus only appends to the bounded
queue of each subscription, so a client that reads slowly cannot hold up the hub or the other
clients. A client that falls so far behind that a subscription overflows is disconnected
(close code 1008), like Home Assistant does; it reconnects and re-reads the state.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from hub import __version__, boundary, names
from hub.errors import HubError, InvalidRequest, NotFound, Unauthenticated
from hub.events import Event, Subscription
from hub.pipeline import action_request
from hub.plugin import public_route
from hub.sessions import session_for_upgrade

_LOGGER = logging.getLogger(__name__)

# Event types a client may subscribe to (the default is all of them).
SUBSCRIBABLE = ("state_changed", "device_added", "device_removed", "action", "plugin_status",
                "plugin_event", "automation")

MAX_MESSAGE_BYTES = 64 * 1024  # a command is small; a bigger frame closes the socket (1009)
AUTH_TIMEOUT = 10.0  # seconds (real time: it guards a network peer) to send the auth message
SUBSCRIPTION_QUEUE = 1000  # undelivered events per subscription before "overflow"
MAX_SUBSCRIPTIONS = 32  # per connection, so one socket's backlog stays bounded
MAX_PENDING_ACTS = 16  # concurrent `act` commands per connection; more wait (backpressure)
MAX_OUTBOX = 256  # unsent results; past it, reading from the client pauses
CLOSE_TIMEOUT = 2.0  # seconds a close handshake may take before the transport is aborted

WS_API = web.AppKey("hub_ws_api", object)

# A command added by another part of the hub: `await handler(principal, message)` returns the
# result; a HubError becomes the error result. Handlers never see the socket.
CommandHandler = Callable[[Any, dict], Awaitable[Any]]

_COMPACT = (",", ":")
_ENVELOPE = frozenset({"id", "type"})


def register_command(app: web.Application, name: str, handler: CommandHandler) -> None:
    """Add a command (e.g. `automations/trace`) to every connection of this app's socket."""
    api = app[WS_API]
    assert isinstance(api, WebSocketApi)
    api.commands[name] = handler


def register(app: web.Application, hub: Any) -> None:
    """Add `GET /ws` to the app and close every socket at shutdown."""
    api = WebSocketApi(hub)
    app[WS_API] = api

    async def websocket(request: web.Request) -> web.StreamResponse:
        return await api.handle(request)

    # No bearer token on the upgrade request (browsers cannot send one): the handshake's
    # auth message authenticates instead.
    app.router.add_get("/ws", public_route(websocket))
    app.on_shutdown.append(api.on_shutdown)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=_COMPACT, default=str)


class WebSocketApi:
    """All open connections of one hub, and what concerns them all (token revocation)."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.connections: set[Connection] = set()
        self.commands: dict[str, CommandHandler] = {}  # see register_command
        tokens = getattr(hub, "tokens", None)
        if tokens is not None and hasattr(tokens, "add_revoke_listener"):
            tokens.add_revoke_listener(self.revoke)
        sessions = getattr(hub, "sessions", None)
        if sessions is not None:
            sessions.add_revoke_listener(self.end_session)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # A dashboard's upgrade carries its session cookie (checked here, with its Origin);
        # the socket is then authenticated by an auth message without a token.
        session = session_for_upgrade(self.hub, request) if hasattr(self.hub, "sessions") \
            else None
        # No permessage-deflate: compressing every event once per socket would cost more CPU
        # in a 1,000-client fan-out than the bytes it saves on small JSON messages.
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=55.0, compress=False)
        await ws.prepare(request)
        await Connection(self, request, ws, session).run()
        return ws

    def revoke(self, principal_id: str) -> None:
        """An authenticated socket must not outlive its token."""
        for conn in tuple(self.connections):
            if conn.principal is not None and conn.principal.id == principal_id:
                conn.terminate(WSCloseCode.POLICY_VIOLATION, "token revoked")

    def end_session(self, session_id: str) -> None:
        """A socket opened with a session closes when the session ends (sign out, revoke)."""
        for conn in tuple(self.connections):
            if conn.session is not None and conn.session.id == session_id:
                conn.terminate(WSCloseCode.POLICY_VIOLATION, "session ended")

    async def on_shutdown(self, _app: web.Application) -> None:
        for conn in tuple(self.connections):
            conn.terminate(WSCloseCode.GOING_AWAY, "hub shutting down")
        pending = [c.closed for c in tuple(self.connections)]
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_TIMEOUT + 1)


class CommandError(HubError):
    """A malformed or unknown WebSocket command (never a crash)."""

    status = 400


class Connection:
    """One client: the handshake, the command loop (reader) and the writer task."""

    def __init__(self, api: WebSocketApi, request: web.Request, ws: web.WebSocketResponse,
                 session: Any = None) -> None:
        self.api = api
        self.hub = api.hub
        self.request = request
        self.ws = ws
        self.session = session  # the dashboard session the upgrade carried, if any
        self.principal: Any = None
        self.last_id = 0
        self.subscriptions: dict[int, Subscription] = {}
        self._outbox: deque[str] = deque()
        self._ready = asyncio.Event()
        self._outbox_space = asyncio.Event()
        self._act_slots = asyncio.Semaphore(MAX_PENDING_ACTS)
        self._tasks: set[asyncio.Task] = set()
        self._writer: asyncio.Task | None = None
        self._closing = False
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self._commands: dict[str, Callable[[int, dict], Any]] = {
            "ping": self._cmd_ping,
            "get_devices": self._cmd_get_devices,
            "get_device": self._cmd_get_device,
            "act": self._cmd_act,
            "browse_media": self._cmd_browse_media,
            "search_media": self._cmd_search_media,
            "subscribe": self._cmd_subscribe,
            "unsubscribe": self._cmd_unsubscribe,
            **{name: self._registered(handler) for name, handler in api.commands.items()},
        }

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            if await self._handshake():
                self._writer = asyncio.create_task(self._write_loop(), name="ws-writer")
                await self._read_loop()
        finally:
            await self._cleanup()

    async def _handshake(self) -> bool:
        await self.ws.send_str(_dumps({"type": "auth_required", "hub_version": __version__}))
        try:
            msg = await self.ws.receive(timeout=AUTH_TIMEOUT)
        except TimeoutError:
            await self._auth_invalid("authentication timed out")
            return False
        if msg.type != WSMsgType.TEXT:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return False
            await self._auth_invalid("expected an auth message")
            return False
        try:
            data = boundary.loads(msg.data, what="the auth message")
        except HubError as err:
            await self._auth_invalid(err.message)
            return False
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("type") != "auth" or not (
                isinstance(token, str) or (token is None and self.session is not None)):
            # Nothing but the auth message is accepted before authentication.
            await self._auth_invalid("expected {\"type\": \"auth\", \"access_token\": ...}")
            return False
        try:
            if token is None:  # no token: the session cookie of the upgrade request
                principal = self.hub.sessions.principal_of(self.session)
            else:
                self.session = None  # an explicit token wins, as on REST
                principal = self.hub.tokens.authenticate(token)
            if inspect.isawaitable(principal):
                principal = await principal
        except HubError as err:
            message = err.message if isinstance(err, Unauthenticated) else "invalid access token"
            await self._auth_invalid(message)
            return False
        self.principal = principal
        # Registered before the next await, so a revocation from now on reaches this socket.
        self.api.connections.add(self)
        await self.ws.send_str(_dumps({"type": "auth_ok", "hub_version": __version__}))
        return not self._closing

    async def _auth_invalid(self, message: str) -> None:
        try:
            await self.ws.send_str(_dumps({"type": "auth_invalid", "message": message}))
        finally:
            await self._close_ws(WSCloseCode.POLICY_VIOLATION, "authentication failed")

    async def _read_loop(self) -> None:
        async for msg in self.ws:
            if self._closing:
                break
            if msg.type == WSMsgType.TEXT:
                await self._handle_text(msg.data)
            elif msg.type == WSMsgType.BINARY:
                self._error(None, CommandError("binary frames are not supported; send JSON text",
                                               code="invalid_format"))
            else:  # ERROR: the iterator ends on CLOSE by itself
                break
            # A client that sends commands but does not read the answers is paused here.
            while len(self._outbox) >= MAX_OUTBOX and not self._closing:
                self._outbox_space.clear()
                await self._outbox_space.wait()

    async def _cleanup(self) -> None:
        self._closing = True
        self.api.connections.discard(self)
        for sub in self.subscriptions.values():
            sub.close("disconnected")
        self.subscriptions.clear()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        # In-flight `act` commands are not cancelled: the pipeline finishes and audits them;
        # only their answers are dropped.
        if not self.ws.closed:
            await self._close_ws(WSCloseCode.GOING_AWAY, "")
        if not self.closed.done():
            self.closed.set_result(None)

    def terminate(self, code: int, reason: str) -> None:
        """Close from outside the reader (revocation, overflow, shutdown); never blocks."""
        if self._closing:
            return
        self._closing = True
        self._outbox_space.set()  # a reader paused for backpressure must see the close
        _LOGGER.info("closing WebSocket of %s: %s",
                     getattr(self.principal, "name", "?"), reason)
        self._spawn(self._close_ws(code, reason))

    async def _close_ws(self, code: int, reason: str) -> None:
        # The close frame may be stuck behind a client that does not read: do not wait long.
        try:
            await asyncio.wait_for(
                self.ws.close(code=code, message=reason.encode()), CLOSE_TIMEOUT)
        except (TimeoutError, ConnectionError, RuntimeError):
            transport = self.request.transport
            if transport is not None:
                transport.abort()

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- outgoing -----------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        if self._closing:
            return
        self._outbox.append(_dumps(message))
        self._ready.set()

    def _result(self, msg_id: int | None, result: Any = None) -> None:
        self._send({"id": msg_id, "type": "result", "success": True, "result": result})

    def _error(self, msg_id: int | None, err: HubError) -> None:
        self._send({"id": msg_id, "type": "result", "success": False, "error": err.as_dict()})

    def _next_outgoing(self) -> str | None:
        if self._outbox:
            text = self._outbox.popleft()
            if len(self._outbox) < MAX_OUTBOX:
                self._outbox_space.set()
            return text
        for sub_id, sub in self.subscriptions.items():
            event = sub.get_nowait()
            if event is not None:
                return _event_message(sub_id, event)
        return None

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while (text := self._next_outgoing()) is not None:
                    await self.ws.send_str(text)
                    if self._closing:
                        return
        except (ConnectionError, RuntimeError) as err:
            # The peer went away mid-write; the reader sees the close and cleans up.
            _LOGGER.debug("WebSocket write failed: %s", err)
            self.terminate(WSCloseCode.GOING_AWAY, "write failed")

    def _subscription_ready(self, sub: Subscription) -> None:
        if sub.closed_reason == "overflow":
            self.terminate(WSCloseCode.POLICY_VIOLATION, "slow consumer: too many pending events")
        else:
            self._ready.set()

    # -- commands -----------------------------------------------------------------------------

    async def _handle_text(self, text: str) -> None:
        try:
            message = boundary.loads(text, what="the message")
        except HubError as err:
            self._error(None, CommandError(err.message, code="invalid_json"))
            return
        if not isinstance(message, dict):
            self._error(None, CommandError("message must be a JSON object", code="invalid_format"))
            return
        msg_id = message.get("id")
        if isinstance(msg_id, bool) or not isinstance(msg_id, int):
            self._error(None, CommandError("every command needs an integer id",
                                           code="invalid_format"))
            return
        if msg_id <= self.last_id:
            self._error(msg_id, CommandError(
                f"ids must increase strictly; the last one was {self.last_id}", code="id_reuse"))
            return
        self.last_id = msg_id
        kind = message.get("type")
        command = self._commands.get(kind) if isinstance(kind, str) else None
        if command is None:
            shown = repr(kind)[:64] if isinstance(kind, str) else f"of type {type(kind).__name__}"
            self._error(msg_id, CommandError(
                f"unknown command {shown}; one of {', '.join(self._commands)}",
                code="unknown_command"))
            return
        try:
            result = command(msg_id, message)
            if inspect.isawaitable(result):
                await result
        except HubError as err:
            self._error(msg_id, err)
        except Exception:
            _LOGGER.exception("WebSocket command %r failed", message.get("type"))
            self._error(msg_id, HubError("internal error"))

    def _registered(self, handler: CommandHandler) -> Callable[[int, dict], Any]:
        async def command(msg_id: int, message: dict) -> None:
            self._result(msg_id, await handler(self.principal, message))
        return command

    def _cmd_ping(self, msg_id: int, _message: dict) -> None:
        self._result(msg_id, "pong")

    def _cmd_get_devices(self, msg_id: int, message: dict) -> None:
        # The filters of GET /devices: `plugin`, and `match` (ranked by name, hub.names).
        unknown = set(message) - {"id", "type", "plugin", "match"}
        if unknown:
            raise InvalidRequest(f"unknown fields: {', '.join(sorted(map(repr, unknown)))}")
        plugin = message.get("plugin")
        if plugin is not None and not isinstance(plugin, str):
            raise InvalidRequest("plugin must be a string", field="plugin")
        devices = sorted(self.hub.registry.by_plugin(plugin) if plugin
                         else self.hub.registry.all(), key=lambda d: d.id)
        if message.get("match") is not None:
            self._result(msg_id, names.matching(devices, message["match"]))
        else:
            self._result(msg_id, [d.snapshot() for d in devices])

    def _cmd_get_device(self, msg_id: int, message: dict) -> None:
        device_id = _string(message, "device_id", "device")
        self._result(msg_id, self.hub.registry.resolve(device_id).snapshot())

    async def _cmd_act(self, msg_id: int, message: dict) -> None:
        # Same body and the same checks as POST /actions (and audited alike when malformed);
        # device, action and params are validated by the pipeline itself.
        try:
            device, action, params, dry_run = action_request(message, _ENVELOPE)
        except HubError as err:
            await self.hub.pipeline.reject(self.principal, err, source="ws")
        # Acquired here, in the reader: too many actions in flight pause reading.
        await self._act_slots.acquire()
        self._spawn(self._act(msg_id, device, action, params, dry_run))

    async def _act(self, msg_id: int, device_id: Any, action: Any, params: Any,
                   dry_run: bool) -> None:
        # Runs beside the reader so a slow device does not hold up ping or other commands.
        try:
            result = await self.hub.pipeline.execute(
                self.principal, device_id, action, params, dry_run=dry_run, source="ws",
                context={"session": self.session.id} if self.session is not None else None)
        except HubError as err:
            self._error(msg_id, err)
        except Exception:
            _LOGGER.exception("WebSocket act failed")
            self._error(msg_id, HubError("internal error"))
        else:
            self._result(msg_id, result)
        finally:
            self._act_slots.release()

    async def _cmd_browse_media(self, msg_id: int, message: dict) -> None:
        await self._in_background(msg_id, lambda fields: self.hub.media.browse(
            self.principal, fields, source="ws"), message)

    async def _cmd_search_media(self, msg_id: int, message: dict) -> None:
        await self._in_background(msg_id, lambda fields: self.hub.media.search(
            self.principal, fields, source="ws"), message)

    async def _in_background(self, msg_id: int, run: Callable[[dict], Any],
                             message: dict) -> None:
        # A media read may take a provider's whole timeout: like `act`, it runs beside the
        # reader and shares the connection's limit of commands in flight.
        fields = {k: v for k, v in message.items() if k not in ("id", "type")}
        await self._act_slots.acquire()

        async def finish() -> None:
            try:
                self._result(msg_id, await run(fields))
            except HubError as err:
                self._error(msg_id, err)
            except Exception:
                _LOGGER.exception("WebSocket %s failed", message.get("type"))
                self._error(msg_id, HubError("internal error"))
            finally:
                self._act_slots.release()

        self._spawn(finish())

    def _cmd_subscribe(self, msg_id: int, message: dict) -> None:
        types = message.get("event_types", message.get("event_type"))
        if types is None:
            types = list(SUBSCRIBABLE)
        elif isinstance(types, str):
            types = [types]
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            raise InvalidRequest("event_types must be a non-empty list of event types")
        unknown = sorted(set(types) - set(SUBSCRIBABLE))
        if unknown:
            raise InvalidRequest(
                f"unknown event types {unknown}; one of {', '.join(SUBSCRIBABLE)}")
        devices = message.get("devices", message.get("device_id"))
        if isinstance(devices, str):
            devices = [devices]
        if devices is not None and (
                not isinstance(devices, list) or not all(isinstance(d, str) for d in devices)):
            raise InvalidRequest("devices must be a list of device ids")
        if devices is not None:  # `name:...` names a device that exists now: its id
            devices = [self.hub.registry.resolve(d).id if d.lower().startswith(names.NAME_PREFIX)
                       else d for d in devices]
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise InvalidRequest(
                f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection",
                code="too_many_subscriptions")
        sub = self.hub.bus.subscribe(types, devices, maxsize=SUBSCRIPTION_QUEUE)
        sub.on_ready = lambda: self._subscription_ready(sub)
        self.subscriptions[msg_id] = sub
        self._result(msg_id, None)

    def _cmd_unsubscribe(self, msg_id: int, message: dict) -> None:
        sub_id = message.get("subscription")
        sub = self.subscriptions.pop(sub_id, None) if isinstance(sub_id, int) else None
        if sub is None:
            raise NotFound(f"no subscription {sub_id!r} on this connection")
        sub.on_ready = None
        sub.close("unsubscribed")
        self._result(msg_id, None)


def _event_message(sub_id: int, event: Event) -> str:
    # The event body is encoded once per event (Event.json), not once per client.
    return f'{{"id":{sub_id},"type":"event","event":{event.json()}}}'


def _string(message: dict, key: str, *aliases: str) -> str:
    for name in (key, *aliases):
        value = message.get(name)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise InvalidRequest(f"{name} must be a non-empty string")
            return value
    raise InvalidRequest(f"missing {key}")
