"""A small kit for automation tests: a demo hub with automations on a ManualClock, and waits
on conditions (an automation's run does real I/O, the audit commit, so waits poll briefly)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from hub.testing import ManualClock

WEBHOOK = "Zq8wK3vN1xR5tY7uP0oI2eA4sD6fG9hJ"
WAIT = 5.0  # real seconds; only reached when a test is about to fail
FRIDAY_0859 = dt.datetime(2026, 11, 20, 8, 59, 0, tzinfo=dt.UTC).timestamp()


class Kit:
    webhook = WEBHOOK

    def __init__(self, hub_factory: Any) -> None:
        self._factory = hub_factory

    async def hub(self, automations: list, *, players: int | list = 3,
                  clock: ManualClock | None = None, **kwargs: Any) -> Any:
        config = {"hub": {"time_zone": "UTC"}, "plugins": {"demo": {"players": players}},
                  "automations": automations, **kwargs.pop("config", {})}
        return await self._factory(config, only=kwargs.pop("only", ["demo"]),
                                   clock=clock or ManualClock(), **kwargs)

    @staticmethod
    async def until(condition: Any, seconds: float = WAIT) -> None:
        for _ in range(int(seconds / 0.005)):
            if condition():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("condition not reached")

    @staticmethod
    def auto(harness: Any, automation_id: str) -> Any:
        return harness.hub.automations.automations[automation_id]

    async def settled(self, harness: Any, automation_id: str, runs: int) -> Any:
        """Wait until the automation has started `runs` runs and none is in progress."""
        a = self.auto(harness, automation_id)
        await self.until(lambda: a.runs >= runs and not a._runs and not a._queue)
        return a

    async def fire(self, harness: Any, webhook: str = WEBHOOK, **kwargs: Any) -> Any:
        status, body = await harness.request("POST", f"/webhooks/{webhook}", token=None,
                                             **kwargs)
        assert status == 200, body
        return body

    @staticmethod
    def state(harness: Any, device_id: str) -> str:
        return harness.hub.registry.get(device_id).state

    @staticmethod
    def attr(harness: Any, device_id: str, name: str) -> Any:
        return harness.hub.registry.get(device_id).attributes.get(name)

    @staticmethod
    def traces(harness: Any, automation_id: str) -> list[dict[str, Any]]:
        return harness.hub.automations.traces.list(automation_id)

    def last_trace(self, harness: Any, automation_id: str) -> dict[str, Any]:
        return self.traces(harness, automation_id)[0]


def on_webhook(actions: list, **extra: Any) -> dict:
    """An automation run by the kit's webhook."""
    return {"id": extra.pop("id", "hooked"),
            "triggers": [{"trigger": "webhook", "webhook_id": WEBHOOK}],
            "actions": actions, **extra}


@pytest.fixture
def kit(hub_factory: Any) -> Kit:
    return Kit(hub_factory)


@pytest.fixture
def hooked() -> Any:
    return on_webhook
