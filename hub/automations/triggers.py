"""What starts an automation: state, time, interval, event and webhook triggers.

A trigger calls `automation.trigger(info)` when it fires; `info` says why (and is shown in
status and in "automation" events, so it never holds a webhook id or a webhook's payload).
Bus-driven triggers (state, event) declare the event types they want and get `on_event`
synchronously from the bus listener: they only look at the event and maybe spawn a task.
Timer-driven triggers (time, interval, state `for`) wait on the hub's clock.
"""

from __future__ import annotations

import asyncio
import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.automations import localtime

if TYPE_CHECKING:
    from hub.automations.automation import Automation
    from hub.events import Event

# A sleeping time trigger wakes at least this often to re-read the wall clock, so a clock
# that is set (NTP, DST, a test's set_wall_time) is noticed within a minute.
MAX_NAP = 60.0
# A time of day already passed by more than this when noticed (the clock jumped over it)
# counts as missed rather than firing late.
LATE_GRACE = 90.0


def values_match(expected: list[Any], actual: Any) -> bool:
    """Whether `actual` is one of `expected`. YAML reads `off`/`on` as booleans, so a boolean
    in the config also matches the state strings "off"/"on"."""
    for value in expected:
        if isinstance(value, bool) and isinstance(actual, str):
            if actual == ("on" if value else "off"):
                return True
        elif isinstance(value, bool) != isinstance(actual, bool):
            continue  # True must not match the volume 1
        elif value == actual:
            return True
    return False


def data_matches(pattern: Any, data: Any) -> bool:
    """`match:` of an event trigger: every key of the pattern must be in the data with an
    equal value; nested mappings match recursively (a subset), lists match one of."""
    if isinstance(pattern, dict):
        if not isinstance(data, dict):
            return False
        return all(key in data and data_matches(value, data[key])
                   for key, value in pattern.items())
    if isinstance(pattern, list) and not isinstance(data, list):
        return values_match(pattern, data)
    return values_match([pattern], data)


class Trigger:
    kind = ""
    event_types: frozenset[str] = frozenset()

    def __init__(self, automation: Automation, config: dict[str, Any]) -> None:
        self.automation = automation
        self.config = config
        self.clock = automation.clock

    def start(self) -> None:
        """Begin watching (spawn timers). Bus-driven triggers need nothing here."""

    def on_event(self, event: Event) -> None:
        """A bus event of one of `event_types` (synchronous: must not block)."""

    def describe(self) -> dict[str, Any]:
        return {"trigger": self.kind}


@dataclass
class _Pending:
    value: Any
    task: asyncio.Task


class StateTrigger(Trigger):
    """A device's state (or one attribute) changed, optionally from/to given values and
    optionally held for a while (`for`). `device` may use * and ? (e.g. `sonos.*`)."""

    kind = "state"
    event_types = frozenset({"state_changed"})

    def __init__(self, automation: Automation, config: dict[str, Any]) -> None:
        super().__init__(automation, config)
        self.patterns = config["device"]
        self.exact = frozenset(p for p in self.patterns if not any(c in p for c in "*?["))
        self.globs = [p for p in self.patterns if p not in self.exact]
        self.attribute = config.get("attribute")
        self.from_ = config.get("from")
        self.to = config.get("to")
        self.hold = config.get("for")
        self._pending: dict[str, _Pending] = {}

    def _watches(self, device_id: Any) -> bool:
        if not isinstance(device_id, str):
            return False
        return device_id in self.exact or any(fnmatch.fnmatchcase(device_id, g)
                                              for g in self.globs)

    def _value(self, snapshot: Any) -> Any:
        if not isinstance(snapshot, dict):
            return None
        if self.attribute:
            return (snapshot.get("attributes") or {}).get(self.attribute)
        return snapshot.get("state")

    def on_event(self, event: Event) -> None:
        device_id = event.data.get("device_id")
        if not self._watches(device_id):
            return
        old = self._value(event.data.get("old_state"))
        new = self._value(event.data.get("new_state"))
        pending = self._pending.get(device_id)
        if pending is not None and pending.value != new:
            # It did not hold for long enough.
            pending.task.cancel()
            del self._pending[device_id]
        if old == new:
            return  # an update that did not change what this trigger watches
        if self.from_ is not None and not values_match(self.from_, old):
            return
        if self.to is not None and not values_match(self.to, new):
            return
        info = {"trigger": "state", "device_id": device_id, "from": old, "to": new}
        if self.attribute:
            info["attribute"] = self.attribute
        if self.hold is None:
            self.automation.trigger(info)
        elif device_id not in self._pending:
            info["for"] = self.hold
            task = self.automation.spawn(self._hold(device_id, info))
            self._pending[device_id] = _Pending(new, task)

    async def _hold(self, device_id: str, info: dict[str, Any]) -> None:
        await self.clock.sleep(self.hold)
        self._pending.pop(device_id, None)
        self.automation.trigger(info)

    def describe(self) -> dict[str, Any]:
        out = {"trigger": self.kind, "device": self.patterns}
        for key in ("attribute", "from", "to", "for"):
            if key in self.config:
                out[key] = self.config[key]
        return out


class TimeTrigger(Trigger):
    """A time of day (HH:MM[:SS] in the hub's time zone), optionally on some weekdays."""

    kind = "time"

    def start(self) -> None:
        for at in self.config["at"]:
            self.automation.spawn(self._daily(at))

    async def _daily(self, at: str) -> None:
        weekdays = self.config.get("weekdays")
        tz = self.automation.tz
        while True:
            target = localtime.next_occurrence(self.clock.time(), at, weekdays, tz)
            # Nap in bounded steps and re-read the wall clock each time: it may be set.
            while (remaining := target - self.clock.time()) > 0:
                await self.clock.sleep(min(remaining, MAX_NAP))
            if self.clock.time() - target <= LATE_GRACE:
                self.automation.trigger({"trigger": "time", "at": at})
            else:  # the clock jumped over it
                await asyncio.sleep(0)

    def describe(self) -> dict[str, Any]:
        out = {"trigger": self.kind, "at": self.config["at"]}
        if "weekdays" in self.config:
            out["weekdays"] = self.config["weekdays"]
        return out


class IntervalTrigger(Trigger):
    """Every N seconds, counted from start (monotonic clock)."""

    kind = "interval"

    def start(self) -> None:
        self.automation.spawn(self._every())

    async def _every(self) -> None:
        every = self.config["every"]
        deadline = self.clock.monotonic()
        while True:
            # Deadlines do not drift by the time each run takes to start.
            deadline += every
            await self.clock.sleep(max(0.0, deadline - self.clock.monotonic()))
            self.automation.trigger({"trigger": "interval", "every": every})

    def describe(self) -> dict[str, Any]:
        return {"trigger": self.kind, "every": self.config["every"]}


class EventTrigger(Trigger):
    """A hub event of a type whose data contains `match`."""

    kind = "event"

    def __init__(self, automation: Automation, config: dict[str, Any]) -> None:
        super().__init__(automation, config)
        self.event_types = frozenset({config["event_type"]})
        self.match = config.get("match") or {}

    def on_event(self, event: Event) -> None:
        if self.automation.caused(event):
            return  # never re-trigger on the automation's own actions
        if data_matches(self.match, event.data):
            self.automation.trigger({"trigger": "event", "event_type": event.type,
                                     "device_id": event.data.get("device_id")})

    def describe(self) -> dict[str, Any]:
        return {"trigger": self.kind, "event_type": self.config["event_type"],
                "match": self.match}


class WebhookTrigger(Trigger):
    """`POST /webhooks/{webhook_id}`; the engine routes the request here."""

    kind = "webhook"

    @property
    def webhook_id(self) -> str:
        return self.config["webhook_id"]

    def fire(self, payload: Any) -> bool:
        # The payload reaches the run (info["data"] is not published or shown in status).
        return self.automation.trigger({"trigger": "webhook"}, data=payload)

    def describe(self) -> dict[str, Any]:
        return {"trigger": self.kind}  # the id is a credential: never shown


TRIGGERS: dict[str, type[Trigger]] = {
    cls.kind: cls
    for cls in (StateTrigger, TimeTrigger, IntervalTrigger, EventTrigger, WebhookTrigger)
}


def build_trigger(automation: Automation, config: dict[str, Any]) -> Trigger:
    return TRIGGERS[config["trigger"]](automation, config)
