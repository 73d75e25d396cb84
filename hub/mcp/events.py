"""Device changes from the hub's WebSocket event stream, for MCP resource subscriptions.

One `EventStream` per agent token, open only while that agent has subscriptions. It speaks the
hub's public WebSocket protocol (docs/api.md): auth handshake, then one `subscribe` to device
events. A dropped connection is retried with exponential backoff and jitter, at most
`MAX_ATTEMPTS` times in a row; a successful reconnect reports a resync (changes may have been
missed meanwhile, so every subscribed resource is announced as updated). A refused token
(revoked) ends the stream at once: retrying would not help.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

EVENT_TYPES = ["state_changed", "device_added", "device_removed"]
MAX_ATTEMPTS = 8  # consecutive failed connections before giving up
FIRST_DELAY = 0.5  # seconds before the first retry; doubles up to MAX_DELAY
MAX_DELAY = 30.0
HANDSHAKE_TIMEOUT = 10.0

OnEvent = Callable[[str, str], Awaitable[None]]  # (event type, device id)


class TokenRefused(Exception):
    """The hub refused the token in the WebSocket handshake."""


class EventStream:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str, *,
                 on_event: OnEvent, on_resync: Callable[[], Awaitable[None]],
                 on_end: Callable[[str], None] | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._session = session
        self._url = url
        self._token = token
        self._on_event = on_event
        self._on_resync = on_resync
        self._on_end = on_end
        self._sleep = sleep
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()  # set while subscribed (tests wait on it)
        self.connections = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hub-mcp-events")

    async def wait_ready(self) -> bool:
        """Wait until the stream is subscribed (True) or has ended (False)."""
        if self._task is None:
            return False
        ready = asyncio.ensure_future(self.connected.wait())
        try:
            await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        return self.connected.is_set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures = 0
        reason = "stopped"
        try:
            while True:
                try:
                    await self._connect_once()
                    failures = 0  # it was up; a later drop starts the backoff afresh
                    reason = "the hub closed the event stream"
                except TokenRefused as err:
                    reason = f"the hub refused the token: {err}"
                    log.warning("event stream: %s; resource updates stop", reason)
                    return
                except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
                    reason = f"{type(err).__name__}: {err}"
                    failures += 1
                if failures >= MAX_ATTEMPTS:
                    log.warning("event stream: giving up after %d attempts (%s)", failures,
                                reason)
                    return
                delay = min(MAX_DELAY, FIRST_DELAY * 2 ** max(0, failures - 1))
                await self._sleep(delay * random.uniform(0.8, 1.2))
        finally:
            self.connected.clear()
            if self._on_end is not None:
                self._on_end(reason)

    async def _connect_once(self) -> None:
        async with self._session.ws_connect(self._url, heartbeat=30.0) as ws:
            hello = await ws.receive_json(timeout=HANDSHAKE_TIMEOUT)
            if hello.get("type") != "auth_required":
                raise ValueError(f"unexpected first message {hello.get('type')!r}")
            await ws.send_json({"type": "auth", "access_token": self._token})
            answer = await ws.receive_json(timeout=HANDSHAKE_TIMEOUT)
            if answer.get("type") != "auth_ok":
                raise TokenRefused(str(answer.get("message", "auth_invalid")))
            await ws.send_json({"id": 1, "type": "subscribe", "event_types": EVENT_TYPES})
            self.connections += 1
            if self.connections > 1:
                await self._on_resync()
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(msg.data)
                if data.get("type") == "result":
                    if not data.get("success"):
                        raise ValueError(f"subscribe failed: {data.get('error')}")
                    self.connected.set()
                    continue
                event = data.get("event") if data.get("type") == "event" else None
                if isinstance(event, dict):
                    device = (event.get("data") or {}).get("device_id")
                    if isinstance(device, str):
                        await self._on_event(str(event.get("type")), device)
            # Closed: a revoked token is refused at the next handshake, ending the stream.
            self.connected.clear()
