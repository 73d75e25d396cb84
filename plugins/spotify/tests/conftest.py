"""Fixtures for the Spotify plugin tests: a fake Spotify on loopback sharing the test's clock.

No mocks and no aioresponses: the plugin talks real HTTP to the fake, the fake keeps real
state, and time moves only through the ManualClock both of them read. The helpers that link
an account through the hub's routes live in `hub_spotify.testing.linking`.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from hub_spotify.config import CALLBACK_PATH
from hub_spotify.testing import FakeDevice, FakeSpotify
from hub_spotify.testing.linking import CLIENT_ID, CLIENT_SECRET, KITCHEN, LAPTOP

from hub.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> FakeSpotify:
    fake = FakeSpotify(clock=clock)
    # A PKCE public client with the hub's callback registered the way Spotify allows for
    # loopback: without a port, so any port matches.
    fake.add_client(CLIENT_ID, redirect_uris=[f"http://{host}{CALLBACK_PATH}"
                                              for host in ("127.0.0.1", "[::1]")])
    fake.add_client("confidential-client", CLIENT_SECRET)
    fake.add_user("alice", "Alice", library=True, devices=[
        FakeDevice(KITCHEN, "Kitchen", "Speaker", 40),
        FakeDevice(LAPTOP, "Laptop", "Computer", 70),
    ], active_device=KITCHEN)
    fake.add_user("bob", "Bob", product="free",
                  devices=[FakeDevice("bobphone", "Bob's phone", "Smartphone", 30)],
                  active_device="bobphone")
    return fake


@pytest.fixture
async def fake_server(fake: FakeSpotify, aiohttp_server: Any) -> Any:
    return await aiohttp_server(fake.app, host="127.0.0.1")  # loopback only


@pytest.fixture
def fake_url(fake_server: Any) -> str:
    return str(fake_server.make_url("")).rstrip("/")


@pytest.fixture
async def browser() -> Any:
    """A plain HTTP client playing the user's browser (never follows redirects by itself)."""
    async with aiohttp.ClientSession() as session:
        yield session


