"""The MCP server's event stream against a real hub's WebSocket: reconnect with backoff (the
backoff's sleep is recorded, not waited), resync after a reconnect, give up when the token is
refused or after a bounded number of failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import unused_port

from hub.mcp import events
from hub.mcp.events import EventStream
from hub.ws import WS_API

DEADLINE = 30.0


class Recorder:
    def __init__(self) -> None:
        self.events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.resyncs = 0
        self.delays: list[float] = []
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_event(self, kind: str, device: str) -> None:
        self.events.put_nowait((kind, device))

    async def on_resync(self) -> None:
        self.resyncs += 1

    def on_end(self, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)

    def stream(self, session: aiohttp.ClientSession, url: str, token: str) -> EventStream:
        return EventStream(session, url, token, on_event=self.on_event,
                           on_resync=self.on_resync, on_end=self.on_end, sleep=self.sleep)


async def next_event(rec: Recorder, device: str) -> tuple[str, str]:
    while True:
        kind, dev = await asyncio.wait_for(rec.events.get(), DEADLINE)
        if dev == device:
            return kind, dev


@pytest.fixture
async def live(hub_factory) -> AsyncIterator[tuple[Any, Recorder, EventStream]]:
    """A hub with one demo player and a subscribed event stream for agent 'watcher'."""
    harness = await hub_factory({"plugins": {"demo": {"players": 1}}}, only=["demo"])
    token = await harness.token("watcher", maturity="STUDENT")
    rec = Recorder()
    async with aiohttp.ClientSession() as session:
        stream = rec.stream(session, harness.url + "/ws", token)
        stream.start()
        try:
            assert await asyncio.wait_for(stream.wait_ready(), DEADLINE)
            yield harness, rec, stream
        finally:
            await stream.stop()


async def test_reconnects_after_a_drop_and_resyncs(live):
    harness, rec, stream = live
    await harness.act("demo.player_1", "play")
    assert await next_event(rec, "demo.player_1") == ("state_changed", "demo.player_1")
    # The hub drops the socket (as it does a slow consumer); the stream comes back.
    for conn in tuple(harness.client.app[WS_API].connections):
        conn.terminate(aiohttp.WSCloseCode.GOING_AWAY, "test drop")
    stream.connected.clear()  # set again once the new connection is subscribed
    assert await asyncio.wait_for(stream.wait_ready(), DEADLINE)
    assert stream.connections == 2
    assert rec.resyncs == 1
    assert rec.delays and rec.delays[0] <= events.FIRST_DELAY * 1.2
    await harness.act("demo.player_1", "pause")
    assert await next_event(rec, "demo.player_1") == ("state_changed", "demo.player_1")


async def test_a_revoked_token_ends_the_stream_without_retrying(live):
    harness, rec, stream = live
    status, _ = await harness.request("DELETE", "/tokens/watcher")
    assert status == 200
    reason = await asyncio.wait_for(rec.ended, DEADLINE)
    assert "refused the token" in reason
    assert len(rec.delays) == 1  # one retry found the token refused, then no more
    assert not await stream.wait_ready()


async def test_gives_up_after_bounded_attempts_with_growing_capped_delays():
    rec = Recorder()
    async with aiohttp.ClientSession() as session:
        stream = rec.stream(session, f"http://127.0.0.1:{unused_port()}/ws", "token")
        stream.start()
        reason = await asyncio.wait_for(rec.ended, DEADLINE)
        await stream.stop()
    assert "ClientConnectorError" in reason
    assert len(rec.delays) == events.MAX_ATTEMPTS - 1
    assert all(b > a for a, b in zip(rec.delays[:4], rec.delays[1:5], strict=True))
    assert max(rec.delays) <= events.MAX_DELAY * 1.2
