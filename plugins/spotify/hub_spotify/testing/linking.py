"""Test helpers: link a Spotify account through the hub's own routes, as a browser would.

Used by the plugin's tests with `hub.testing`'s harness and the fake Spotify.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from hub_spotify.testing.fake import FakeSpotify

CLIENT_ID = "hub-test-client"
CLIENT_SECRET = "client-secret-0123456789abcdef"
KITCHEN = "0d1841b0976bae2a3a310dd74c0f3df354899bc8"
LAPTOP = "74ASZWbe4lXaubB36ztrGX"


def spotify_config(fake_url: str, **extra: Any) -> dict[str, Any]:
    return {"client_id": CLIENT_ID, "api_url": f"{fake_url}/v1", "accounts_url": fake_url,
            "poll_interval": 30, "retry_after_cap": 5, **extra}


async def start_hub(hub_factory: Any, fake_url: str, clock: Any, **extra: Any) -> Any:
    harness = await hub_factory({"plugins": {"spotify": spotify_config(fake_url, **extra)}},
                                only=["spotify"], clock=clock)
    return harness


async def authorize(harness: Any, browser: aiohttp.ClientSession) -> dict[str, str]:
    """Start linking as the owner and let the fake approve: the callback's query."""
    status, body = await harness.request("GET", "/integrations/spotify/authorize",
                                         allow_redirects=False)
    assert status == 302, body
    async with browser.get(body["url"], allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        location = resp.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def callback(harness: Any, query: dict[str, str]) -> tuple[int, Any]:
    # The browser comes back without the hub's bearer token.
    return await harness.request("GET", "/integrations/spotify/callback", token=None,
                                 params=query)


async def link(harness: Any, browser: aiohttp.ClientSession, fake: FakeSpotify,
               user: str = "alice") -> str:
    fake.login_as = user
    status, page = await callback(harness, await authorize(harness, browser))
    assert status == 200, page
    return user


def jump(clock: Any, seconds: float) -> None:
    """Move wall time (token expiry, link age) without waking every poll in between."""
    clock.set_wall_time(clock.time() + seconds)


async def drive(clock: Any, coro: Any, *, step: float = 0.5, rounds: int = 400) -> Any:
    """Run `coro` while moving the ManualClock in `step`s, so its clock waits (Retry-After,
    backoff) pass; the short real pauses only let loopback HTTP complete. Bounded."""
    task = asyncio.ensure_future(coro)
    for _ in range(rounds):
        if task.done():
            break
        await asyncio.sleep(0.005)
        await clock.advance(step)
    return await asyncio.wait_for(task, 5)


async def eventually(check: Any, *, timeout: float = 3.0) -> Any:
    """Await `check()` until it returns something truthy: a poll woken by the ManualClock
    still needs real loopback I/O to finish. Bounded by `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result or loop.time() >= deadline:
            return result
        await asyncio.sleep(0.01)
