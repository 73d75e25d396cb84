"""Helpers for tests that run the hub against emulated speakers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import unused_port

from hub_sonos.testing.emulator import EmulatedSpeaker, Household

EVENT_WAIT = 5.0  # seconds a test waits at most for a real NOTIFY or thread to act


def dev(speaker: EmulatedSpeaker) -> str:
    """The hub device id of an emulated speaker."""
    return f"sonos.{speaker.uid}"


def sonos_config(household: Household | None, **overrides: Any) -> dict[str, Any]:
    """A `plugins: sonos:` section for tests: static hosts, loopback events, no multicast."""
    config: dict[str, Any] = {
        "discovery": False,
        "hosts": [household.speakers[0].host] if household else [],
        "event_listener_port": unused_port(),
        "listen_addr": "127.0.0.1",
        "event_timeout": 5,
        "poll_interval": 10,
        "request_timeout": 3,
    }
    config.update(overrides)
    return config


async def wait_for(predicate: Callable[[], Any], timeout: float = EVENT_WAIT) -> Any:
    """Wait (bounded) for something a real NOTIFY or a thread will make true."""
    async with asyncio.timeout(timeout):
        while True:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.02)


async def wait_device(harness: Any, device_id: str, predicate: Callable[[dict], bool],
                      timeout: float = EVENT_WAIT) -> dict:
    """Wait (bounded) until GET /devices/{id} satisfies `predicate`; returns the device."""
    async with asyncio.timeout(timeout):
        while True:
            device = await harness.device(device_id)
            if predicate(device):
                return device
            await asyncio.sleep(0.03)
