"""Fixtures for the Sonos tests: emulated households on free loopback blocks, and a real
in-process hub whose sonos plugin is pointed at them (static hosts, no multicast)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from hub_sonos.testing import Household, free_loopback_block
from hub_sonos.testing.helpers import sonos_config

from hub.testing import ManualClock


@pytest.fixture
def household_factory() -> Iterator[Callable[..., Household]]:
    started: list[Household] = []

    def make(speakers: int = 3, **kwargs: Any) -> Household:
        if "host" not in kwargs:
            kwargs["host"] = (free_loopback_block(1, port=kwargs["port"]) if kwargs.get("ports")
                              else free_loopback_block(speakers, port=kwargs.get("port", 1400)))
        household = Household(speakers, **kwargs).start()
        started.append(household)
        return household

    yield make
    for household in started:
        household.stop()


@pytest.fixture
def household(household_factory) -> Household:
    return household_factory(3)


@pytest.fixture
async def sonos_hub(hub_factory) -> AsyncIterator[Callable[..., Any]]:
    """`await sonos_hub(household, clock=None, **config overrides)` -> HubHarness."""

    async def make(household: Household | None, *, clock: ManualClock | None = None,
                   **overrides: Any):
        return await hub_factory({"plugins": {"sonos": sonos_config(household, **overrides)}},
                                 only=["sonos"], clock=clock or ManualClock())

    yield make
