"""Conditions: checked when a trigger fires; the run starts only if all of them hold.

    state    a device is (or an attribute has) one of the given values right now
    time     local time within [after, before), optionally on some weekdays
    weekday  today is one of the given weekdays
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.automations import localtime
from hub.automations.triggers import values_match

Condition = Callable[[], bool]


def build_condition(config: dict[str, Any], hub: Any, tz: localtime.TimeZone) -> Condition:
    kind = config["condition"]
    if kind == "state":
        return _state(config, hub)
    if kind == "time":
        return _time(config, hub, tz)
    if kind == "weekday":
        return _time({"weekdays": config["weekdays"]}, hub, tz)
    raise ValueError(f"unknown condition {kind!r}")  # the schema prevents it


def _state(config: dict[str, Any], hub: Any) -> Condition:
    device_id = config["device"]
    attribute = config.get("attribute")
    expected = config["state"]

    def check() -> bool:
        device = hub.registry.get(device_id)
        if device is None:
            return False
        actual = device.attributes.get(attribute) if attribute else device.reported_state
        return values_match(expected, actual)

    return check


def _time(config: dict[str, Any], hub: Any, tz: localtime.TimeZone) -> Condition:
    after, before, weekdays = config.get("after"), config.get("before"), config.get("weekdays")

    def check() -> bool:
        return localtime.in_window(hub.clock.time(), after, before, weekdays, tz)

    return check
