"""What starts an automation (or ends a `wait_for_trigger`): Home Assistant's triggers.

    state          a device's state or attribute changed (from/to/not_from/not_to, for)
    numeric_state  a number crossed into a range (above/below, for)
    time           a time of day, or the time a device attribute holds (with an offset)
    time_pattern   every hour/minute/second matching (`/5` is every fifth)
    interval       every N seconds since start (the hub's own)
    event          a hub event or a custom event, whose data contains `event_data`
    webhook        POST/PUT to /webhooks/<id>, its body available as trigger.json / .data
    hub_start      the hub started (Home Assistant's `homeassistant` start)
    template       a template became true (for)

A trigger reports to its owner (the automation, or a run waiting in wait_for_trigger) with
`owner.fire(trigger, data)`, where `data` becomes the run's `trigger` variable in Home
Assistant's shape (`trigger.id`, `trigger.to_state.state`, `trigger.json`, ...). Bus-driven
triggers get `on_event` synchronously from the bus listener and never block; timer-driven
ones wait on the hub's clock and re-read the wall clock at least once a minute.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fnmatch
import logging
import math
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hub.automations import localtime
from hub.automations.conditions import in_range, numeric_value
from hub.automations.states import NAME_PREFIX, StateView
from hub.automations.template import TemplateError, render_boolean
from hub.automations.values import data_matches, is_glob, time_of_day, values_match
from hub.errors import HubError

if TYPE_CHECKING:
    from hub.events import Event

_LOGGER = logging.getLogger("hub.automations")

# A sleeping time trigger wakes at least this often to re-read the wall clock, so a clock
# that is set (NTP, DST, a test's set_wall_time) is noticed within a minute.
MAX_NAP = 60.0
# A time of day already passed by more than this when noticed (the clock jumped over it)
# counts as missed rather than firing late.
LATE_GRACE = 90.0
# Template triggers re-render on every state change and at least this often (for now()).
TEMPLATE_TICK = 60.0


class TriggerOwner(Protocol):
    id: str  # the automation's
    hub: Any
    view: StateView
    tz: localtime.TimeZone
    label: str

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task: ...

    def fire(self, trigger: Trigger, data: dict[str, Any]) -> bool: ...

    def caused(self, event: Event) -> bool: ...


class Trigger:
    kind = ""
    platform = ""  # Home Assistant's name, in trigger.platform
    event_types: frozenset[str] = frozenset()

    def __init__(self, owner: TriggerOwner, config: dict[str, Any], index: int) -> None:
        self.owner = owner
        self.config = config
        self.clock = owner.hub.clock
        self.id = str(config.get("id", index))
        self.index = index
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> None:
        """Begin watching (spawn timers). Bus-driven triggers need nothing here."""

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def on_event(self, event: Event) -> None:
        """A bus event of one of `event_types` (synchronous: must not block)."""

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = self.owner.spawn(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _fire(self, **data: Any) -> bool:
        return self.owner.fire(self, {
            "platform": self.platform or self.kind, "trigger": self.kind, "id": self.id,
            "idx": str(self.index), "alias": self.config.get("alias"), **data})

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in self.config.items() if k not in ("variables", "enabled")}
        return out


@dataclass
class _Pending:
    value: Any
    task: asyncio.Task


class _DeviceTrigger(Trigger):
    """A trigger that watches devices named by ids, globs or `name:` references."""

    event_types = frozenset({"state_changed"})

    def __init__(self, owner: TriggerOwner, config: dict[str, Any], index: int) -> None:
        super().__init__(owner, config, index)
        refs = config["device"]
        self.exact = frozenset(r for r in refs if not is_glob(r) and not r.startswith(
            NAME_PREFIX))
        self.globs = [r for r in refs if is_glob(r)]
        self.names = [r for r in refs if r.startswith(NAME_PREFIX)]
        self.attribute = config.get("attribute")
        self.hold = config.get("for")
        self._pending: dict[str, _Pending] = {}

    def watches(self, device_id: Any, snapshot: Any) -> bool:
        if not isinstance(device_id, str):
            return False
        if device_id in self.exact or any(fnmatch.fnmatchcase(device_id, g)
                                          for g in self.globs):
            return True
        return any(self._named(ref, device_id) for ref in self.names)

    def _named(self, ref: str, device_id: str) -> bool:
        # The core's resolver, as for actions: a name designates what it designates now.
        try:
            return bool(self.owner.hub.registry.resolve(ref).id == device_id)
        except HubError:  # no such device (yet), or ambiguous: nothing to watch
            return False

    def change(self, event: Event) -> tuple[str, Any, Any] | None:
        """(device id, old snapshot, new snapshot) of a state_changed event this trigger
        watches, else None."""
        device_id = event.data.get("device_id")
        new = event.data.get("new_state")
        if not isinstance(device_id, str) or not self.watches(device_id, new):
            return None
        return device_id, event.data.get("old_state"), new

    def value(self, snapshot: Any) -> Any:
        if not isinstance(snapshot, Mapping):
            return None
        if self.attribute:
            return (snapshot.get("attributes") or {}).get(self.attribute)
        return snapshot.get("state")

    def _cancel(self, device_id: str) -> None:
        pending = self._pending.pop(device_id, None)
        if pending is not None:
            pending.task.cancel()

    def _hold_then_fire(self, device_id: str, value: Any, data: dict[str, Any]) -> None:
        if self.hold is None:
            self._fire(**data)
        elif device_id not in self._pending:
            data["for"] = self.hold
            task = self._spawn(self._held(device_id, data))
            self._pending[device_id] = _Pending(value, task)

    async def _held(self, device_id: str, data: dict[str, Any]) -> None:
        await self.clock.sleep(self.hold)
        self._pending.pop(device_id, None)
        self._fire(**data)


class StateTrigger(_DeviceTrigger):
    """A device's state (or one attribute) changed. As in Home Assistant: with none of
    from/to/not_from/not_to, any change fires (attribute-only changes too); with any of them
    (even `to: ~`), only changes of the state itself. `for` requires the new value to hold."""

    kind = "state"

    def __init__(self, owner: TriggerOwner, config: dict[str, Any], index: int) -> None:
        super().__init__(owner, config, index)
        self.match_all = not any(k in config for k in ("from", "to", "not_from", "not_to"))

    def on_event(self, event: Event) -> None:
        change = self.change(event)
        if change is None:
            return
        device_id, old_s, new_s = change
        old, new = self.value(old_s), self.value(new_s)
        pending = self._pending.get(device_id)
        if pending is not None and pending.value != new:
            self._cancel(device_id)  # it did not hold for long enough
        if old == new and (self.attribute or not self.match_all):
            return  # not a change of what this trigger watches
        config = self.config
        if config.get("from") is not None and not values_match(config["from"], old):
            return
        if "not_from" in config and values_match(config["not_from"], old):
            return
        if config.get("to") is not None and not values_match(config["to"], new):
            return
        if "not_to" in config and values_match(config["not_to"], new):
            return
        view = self.owner.view
        data: dict[str, Any] = {
            "entity_id": device_id, "device_id": device_id,
            "from_state": view.wrap(old_s), "to_state": view.wrap(new_s),
            "from": old, "to": new, "for": None,
            "description": f"state of {device_id}"}
        if self.attribute:
            data["attribute"] = self.attribute
        self._hold_then_fire(device_id, new, data)


class NumericStateTrigger(_DeviceTrigger):
    """A number (state, attribute or value_template) entered the range above/below. Like
    Home Assistant it fires on the way in only: a value already in range when watching
    starts fires only after it has left the range and come back."""

    kind = "numeric_state"

    def __init__(self, owner: TriggerOwner, config: dict[str, Any], index: int) -> None:
        super().__init__(owner, config, index)
        self._armed: set[str] = set()
        self._seen: set[str] = set()

    def start(self) -> None:
        for device in self.owner.hub.registry.all():
            if self.watches(device.id, device.snapshot()):
                self._seen.add(device.id)
                if not self._matches(device.id, None):
                    self._armed.add(device.id)

    def _matches(self, device_id: str, snapshot: Any) -> bool:
        """Whether the device (as `snapshot`, or as it is now) is in range."""
        view = self.owner.view
        state = view.state_object(device_id) if snapshot is None else view.wrap(snapshot)
        try:
            value = numeric_value(self.config, view, state, {})
        except TemplateError as err:
            _LOGGER.warning("%s: numeric_state trigger %s: %s", self.owner.label, self.id, err)
            return False
        return in_range(self.config, value)

    def on_event(self, event: Event) -> None:
        change = self.change(event)
        if change is None:
            return
        device_id, old_s, new_s = change
        if device_id not in self._seen:
            self._seen.add(device_id)
            if not self._matches(device_id, old_s):
                self._armed.add(device_id)
        if not self._matches(device_id, new_s):
            self._armed.add(device_id)
            self._cancel(device_id)
            return
        pending = self._pending.get(device_id)
        if pending is not None:
            return  # still in range: the `for` wait goes on
        if device_id not in self._armed:
            return
        self._armed.discard(device_id)
        view = self.owner.view
        data: dict[str, Any] = {
            "entity_id": device_id, "device_id": device_id,
            "from_state": view.wrap(old_s), "to_state": view.wrap(new_s),
            "above": self.config.get("above"), "below": self.config.get("below"),
            "for": None, "description": f"numeric state of {device_id}"}
        if self.attribute:
            data["attribute"] = self.attribute
        # For `for`, any change that stays in range keeps the wait going.
        self._hold_then_fire(device_id, True, data)


async def _nap_until(clock: Any, target: float, changed: asyncio.Event | None = None) -> bool:
    """Sleep (in bounded naps, re-reading the wall clock) until `target`; False if `changed`
    was set first."""
    while (remaining := target - clock.time()) > 0:
        nap = clock.sleep(min(remaining, MAX_NAP))
        if changed is None:
            await nap
            continue
        sleeper = asyncio.ensure_future(nap)
        waiter = asyncio.ensure_future(changed.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()
        if changed.is_set():
            return False
    return True


class TimeTrigger(Trigger):
    """A time of day (HH:MM[:SS] in the hub's time zone), optionally on some weekdays; or the
    time a device attribute holds (a time of day, an ISO date-time or epoch seconds), with an
    optional offset, followed as the attribute changes."""

    kind = "time"
    event_types = frozenset({"state_changed"})

    def __init__(self, owner: TriggerOwner, config: dict[str, Any], index: int) -> None:
        super().__init__(owner, config, index)
        self._changed: dict[tuple[str, str], asyncio.Event] = {}

    def start(self) -> None:
        for at in self.config["at"]:
            if isinstance(at, str):
                self._spawn(self._daily(at))
            else:
                key = (at["device"], at["attribute"])
                self._changed[key] = asyncio.Event()
                self._spawn(self._from_attribute(at, self._changed[key]))

    def on_event(self, event: Event) -> None:
        if not self._changed:
            return
        device_id = event.data.get("device_id")
        for (watched, attribute), changed in self._changed.items():
            if watched != device_id:
                continue
            old = ((event.data.get("old_state") or {}).get("attributes") or {}).get(attribute)
            new = ((event.data.get("new_state") or {}).get("attributes") or {}).get(attribute)
            if old != new:
                changed.set()

    async def _daily(self, at: str) -> None:
        weekdays = self.config.get("weekdays")
        while True:
            target = localtime.next_occurrence(self.clock.time(), at, weekdays, self.owner.tz)
            await _nap_until(self.clock, target)
            if self.clock.time() - target <= LATE_GRACE:
                self._fire(now=localtime.local(target, self.owner.tz), at=at,
                           description=f"time {at}")
            else:  # the clock jumped over it
                await asyncio.sleep(0)

    async def _from_attribute(self, at: dict[str, Any], changed: asyncio.Event) -> None:
        offset = at.get("offset", 0.0)
        weekdays = self.config.get("weekdays")
        while True:
            changed.clear()
            target = self._attribute_time(at, offset, weekdays)
            if target is None:
                await changed.wait()
                continue
            if not await _nap_until(self.clock, target, changed):
                continue  # the attribute changed: compute again
            if self.clock.time() - target <= LATE_GRACE:
                self._fire(now=localtime.local(target, self.owner.tz), entity_id=at["device"],
                           device_id=at["device"], attribute=at["attribute"], offset=offset,
                           description=f"time in {at['device']}.{at['attribute']}")
            else:
                await asyncio.sleep(0)
            if self._one_shot(at):
                await changed.wait()  # that moment is past: wait for a new value

    def _value(self, at: dict[str, Any]) -> Any:
        device = self.owner.hub.registry.get(at["device"])
        return device.attributes.get(at["attribute"]) if device else None

    def _one_shot(self, at: dict[str, Any]) -> bool:
        value = self._value(at)
        try:
            time_of_day(value)
            return False
        except Exception:
            return True

    def _attribute_time(self, at: dict[str, Any], offset: float,
                        weekdays: list[str] | None) -> float | None:
        value = self._value(at)
        if value is None or isinstance(value, bool):
            return None
        now = self.clock.time()
        try:
            daily = time_of_day(value) if isinstance(value, str) else None
        except Exception:
            daily = None
        if daily is not None:
            return localtime.next_occurrence(now - offset, daily, weekdays, self.owner.tz) + \
                offset
        try:
            if isinstance(value, int | float):
                moment = float(value)
            else:
                parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=self.owner.tz) if self.owner.tz else \
                        parsed.astimezone()
                moment = parsed.timestamp()
        except (ValueError, OverflowError, OSError):
            _LOGGER.warning("%s: time trigger: %s.%s holds %r, not a time", self.owner.label,
                            at["device"], at["attribute"], value)
            return None
        target = moment + offset
        return target if target > now - LATE_GRACE else None


def _pattern_values(spec: str | None, top: int) -> list[int]:
    if spec is None or spec == "*":
        return list(range(top + 1))
    if spec.startswith("/"):
        return list(range(0, top + 1, int(spec[1:])))
    return [int(spec)]


def next_pattern_time(now: float, hours: list[int], minutes: list[int], seconds: list[int],
                      tz: localtime.TimeZone) -> float:
    """The first whole second after `now` whose local time matches the pattern."""
    start = math.floor(now) + 1
    today = localtime.local(start, tz).date()
    for offset in range(3):
        day = today + dt.timedelta(days=offset)
        for h in hours:
            if _stamp(day, h, 59, 59, tz) < start:
                continue
            for m in minutes:
                if _stamp(day, h, m, 59, tz) < start:
                    continue
                for s in seconds:
                    candidate = _stamp(day, h, m, s, tz)
                    if candidate >= start:
                        return candidate
    raise ValueError("no matching time within two days")  # the schema prevents it


def _stamp(day: dt.date, h: int, m: int, s: int, tz: localtime.TimeZone) -> float:
    return dt.datetime.combine(day, dt.time(h, m, s), tzinfo=tz).timestamp()


class TimePatternTrigger(Trigger):
    """Whenever the local time matches hours/minutes/seconds (`*`, a value or `/N`). As in
    Home Assistant, the units below the largest one given default to 0, not to `*`."""

    kind = "time_pattern"

    def start(self) -> None:
        hours, minutes, seconds = (self.config.get(k) for k in ("hours", "minutes", "seconds"))
        if minutes is None and hours is not None:
            minutes = "0"
        if seconds is None and minutes is not None:
            seconds = "0"
        self._spawn(self._run(_pattern_values(hours, 23), _pattern_values(minutes, 59),
                              _pattern_values(seconds, 59)))

    async def _run(self, hours: list[int], minutes: list[int], seconds: list[int]) -> None:
        while True:
            target = next_pattern_time(self.clock.time(), hours, minutes, seconds,
                                       self.owner.tz)
            await _nap_until(self.clock, target)
            if self.clock.time() - target <= LATE_GRACE:
                self._fire(now=localtime.local(target, self.owner.tz),
                           description="time pattern")
            else:
                await asyncio.sleep(0)


class IntervalTrigger(Trigger):
    """Every N seconds, counted from start (monotonic clock)."""

    kind = "interval"

    def start(self) -> None:
        self._spawn(self._every())

    async def _every(self) -> None:
        every = self.config["every"]
        deadline = self.clock.monotonic()
        while True:
            # Deadlines do not drift by the time each run takes to start.
            deadline += every
            await self.clock.sleep(max(0.0, deadline - self.clock.monotonic()))
            self._fire(every=every, now=localtime.local(self.clock.time(), self.owner.tz),
                       description=f"every {every:g} s")


class EventTrigger(Trigger):
    """A hub event (or a custom one fired by an `event` action) whose data contains
    `event_data`. An automation never triggers on its own action, automation and custom
    events, so it cannot loop on itself."""

    kind = "event"

    def __init__(self, owner: TriggerOwner, config: dict[str, Any], index: int) -> None:
        super().__init__(owner, config, index)
        self.event_types = frozenset(config["event_type"])
        self.match = config.get("event_data") or {}

    def on_event(self, event: Event) -> None:
        if self.owner.caused(event):
            return
        if data_matches(self.match, event.data):
            self._fire(event={"event_type": event.type, "data": event.data,
                              "time_fired": event.time},
                       device_id=event.data.get("device_id"),
                       description=f"event '{event.type}'")


class WebhookTrigger(Trigger):
    """`POST /webhooks/{webhook_id}` (or another allowed method); the engine routes here."""

    kind = "webhook"
    ALLOWED = ("POST", "PUT")

    @property
    def webhook_id(self) -> str:
        return str(self.config["webhook_id"])

    @property
    def methods(self) -> list[str]:
        return list(self.config.get("allowed_methods", self.ALLOWED))

    @property
    def local_only(self) -> bool:
        return bool(self.config.get("local_only", True))

    def fire(self, payload: dict[str, Any]) -> bool:
        # The body reaches the run as trigger.json / trigger.data / trigger.query; the id is a
        # credential and is never put in the trigger data.
        return self._fire(**payload, description="webhook")

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.pop("webhook_id", None)  # the id is a credential: never shown
        return out


class HubStartTrigger(Trigger):
    """The hub started (fired once by the engine, not on reload)."""

    kind = "hub_start"
    platform = "homeassistant"

    def fire_start(self) -> bool:
        return self._fire(event="start", description="hub start")


class TemplateTrigger(Trigger):
    """A template became true (re-rendered on every state change, and every minute so that
    now() moves). Like Home Assistant, one already true when watching starts must first
    become false."""

    kind = "template"
    event_types = frozenset({"state_changed"})

    def __init__(self, owner: TriggerOwner, config: dict[str, Any], index: int) -> None:
        super().__init__(owner, config, index)
        self._last = True
        self._pending: asyncio.Task | None = None
        self._error: str | None = None

    def start(self) -> None:
        self._last = self._evaluate()
        self._spawn(self._tick())

    def _evaluate(self) -> bool:
        try:
            result = render_boolean(self.config["value_template"], {},
                                    self.owner.view.render_context)
        except TemplateError as err:
            if str(err) != self._error:
                _LOGGER.warning("%s: template trigger %s: %s", self.owner.label, self.id, err)
            self._error = str(err)
            return False
        self._error = None
        return result

    def on_event(self, event: Event) -> None:
        self._check(event.data)

    async def _tick(self) -> None:
        while True:
            await self.clock.sleep(TEMPLATE_TICK)
            self._check(None)

    def _check(self, data: Mapping[str, Any] | None) -> None:
        now = self._evaluate()
        was, self._last = self._last, now
        if not now:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
            return
        if was:
            return
        info: dict[str, Any] = {"description": "template", "for": None}
        if data is not None:
            view = self.owner.view
            info.update(entity_id=data.get("device_id"),
                        from_state=view.wrap(data.get("old_state")),
                        to_state=view.wrap(data.get("new_state")))
        hold = self.config.get("for")
        if hold is None:
            self._fire(**info)
        else:
            info["for"] = hold
            self._pending = self._spawn(self._held(hold, info))

    async def _held(self, hold: float, info: dict[str, Any]) -> None:
        await self.clock.sleep(hold)
        self._pending = None
        self._fire(**info)


TRIGGERS: dict[str, type[Trigger]] = {
    cls.kind: cls
    for cls in (StateTrigger, NumericStateTrigger, TimeTrigger, TimePatternTrigger,
                IntervalTrigger, EventTrigger, WebhookTrigger, HubStartTrigger, TemplateTrigger)
}


def build_triggers(owner: TriggerOwner, configs: list[dict[str, Any]]) -> list[Trigger]:
    return [TRIGGERS[c["trigger"]](owner, c, i) for i, c in enumerate(configs)
            if c.get("enabled", True)]


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    """A short description of why a run started, for status and `automation` events (never
    a webhook's payload)."""
    out: dict[str, Any] = {"trigger": data.get("trigger"), "id": data.get("id")}
    for key in ("device_id", "attribute", "from", "to", "for", "at", "every"):
        if data.get(key) is not None:
            out[key] = data[key]
    event = data.get("event")
    if isinstance(event, Mapping):
        out["event_type"] = event.get("event_type")
    return out
