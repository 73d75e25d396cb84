"""The `automations:` section: its voluptuous schema and the value types it normalises.

Validation normalises as it goes (durations to seconds, times of day to "HH:MM:SS", weekdays
to `mon`..`sun`), and normalised output validates again unchanged, so the engine can re-check
what the config loader already checked. Errors are raised with the path of the bad key, which
the config loader turns into file:line.

YAML 1.1 pitfalls handled here: `to: off` arrives as False (read back as "off"), and an
unquoted `at: 9:30` arrives as the sexagesimal integer 570 (read back as 09:30).
"""

from __future__ import annotations

import re
from typing import Any

import voluptuous as vol

from hub.maturity import Maturity

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = {
    **{d: d for d in WEEKDAYS},
    **{full: full[:3] for full in (
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")},
}
MODES = ("single", "restart", "queued", "parallel")
DEFAULT_MAX_RUNS = 10

_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# The webhook id is the only credential of a webhook: long, and not a word.
_WEBHOOK_RE = re.compile(r"^[A-Za-z0-9_-]{24,128}$")
_MIN_WEBHOOK_DISTINCT_CHARS = 10


def time_of_day(value: Any) -> str:
    """"HH:MM" or "HH:MM:SS" (24 h) -> "HH:MM:SS"."""
    if isinstance(value, bool):
        raise vol.Invalid("expected a time of day such as \"09:00\"")
    if isinstance(value, int):
        # YAML 1.1 reads unquoted 9:30 as 570 and 21:30:15 as 77415 (base 60).
        if 0 <= value < 24 * 60:
            hours, minutes, seconds = (*divmod(value, 60), 0)
        elif value < 24 * 3600:
            hours, rest = divmod(value, 3600)
            minutes, seconds = divmod(rest, 60)
        else:
            raise vol.Invalid("expected a time of day such as \"09:00\" (quote it)")
        return f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if not isinstance(value, str):
        raise vol.Invalid("expected a time of day such as \"09:00\"")
    match = _TIME_RE.match(value.strip())
    if not match:
        raise vol.Invalid(f"invalid time of day {value!r}: use HH:MM or HH:MM:SS")
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise vol.Invalid(f"invalid time of day {value!r}")
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def parse_time_of_day(value: str) -> tuple[int, int, int]:
    hours, minutes, seconds = (int(p) for p in value.split(":"))
    return hours, minutes, seconds


def duration(value: Any) -> float:
    """Seconds (a number or a numeric string), "HH:MM:SS" or "HH:MM", or a mapping of
    days/hours/minutes/seconds/milliseconds -> float seconds (>= 0)."""
    if isinstance(value, bool):
        raise vol.Invalid("expected a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        parts = text.split(":")
        try:
            if len(parts) == 1:
                seconds = float(text)
            elif len(parts) in (2, 3):
                numbers = [float(p) for p in parts]
                if len(numbers) == 2:  # HH:MM, like Home Assistant
                    numbers.append(0.0)
                seconds = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
            else:
                raise ValueError
        except ValueError:
            raise vol.Invalid(f"invalid duration {value!r}: seconds or HH:MM:SS") from None
    elif isinstance(value, dict):
        units = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1,
                 "milliseconds": 0.001}
        unknown = set(value) - set(units)
        if unknown or not value:
            raise vol.Invalid(f"a duration mapping takes {', '.join(units)}")
        seconds = 0.0
        for unit, amount in value.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float):
                raise vol.Invalid(f"{unit} must be a number", path=[unit])
            seconds += amount * units[unit]
    else:
        raise vol.Invalid("expected a duration (seconds, \"HH:MM:SS\" or a mapping)")
    if seconds < 0 or seconds != seconds:  # negative or NaN
        raise vol.Invalid("a duration cannot be negative")
    return seconds


def positive_duration(value: Any) -> float:
    seconds = duration(value)
    if seconds < 1:
        raise vol.Invalid("must be at least 1 second")
    return seconds


def weekdays(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise vol.Invalid("expected weekdays, e.g. [mon, tue, wed, thu, fri]")
    out = []
    for index, item in enumerate(items):
        day = _WEEKDAY_NAMES.get(str(item).strip().lower()) if isinstance(item, str) else None
        if day is None:
            raise vol.Invalid(f"unknown weekday {item!r}; use {', '.join(WEEKDAYS)}",
                              path=[index])
        if day not in out:
            out.append(day)
    return sorted(out, key=WEEKDAYS.index)


def state_value(value: Any) -> Any:
    """A state or attribute value to compare with. YAML 1.1 turns `off`/`on` into booleans;
    the device vocabulary has the strings, so keep both readings (see `values_match`)."""
    if isinstance(value, dict | list):
        raise vol.Invalid("expected a single value")
    return value


def one_or_more(validator: Any) -> Any:
    def validate(value: Any) -> list:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise vol.Invalid("expected at least one value")
        return [vol.Schema(validator)(item) for item in items]
    return validate


def maturity(value: Any) -> str:
    if isinstance(value, Maturity):
        return value.name
    try:
        return Maturity[str(value).strip().upper()].name
    except KeyError:
        raise vol.Invalid(
            f"unknown maturity {value!r}; one of {', '.join(m.name for m in Maturity)}"
        ) from None


def webhook_id(value: Any) -> str:
    if not isinstance(value, str) or not _WEBHOOK_RE.match(value):
        raise vol.Invalid(
            "a webhook_id is its only credential: use 24-128 characters of A-Z a-z 0-9 _ -, "
            "e.g. from `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`")
    if len(set(value)) < _MIN_WEBHOOK_DISTINCT_CHARS:
        raise vol.Invalid("this webhook_id is guessable; use a random one")
    return value


def _device_ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, str) and i for i in items):
        raise vol.Invalid("expected a device id (or a list of them; * and ? match any)")
    return items


def _by_key(key: str, schemas: dict[str, vol.Schema], what: str) -> Any:
    """Choose the schema of a list item by its `key` (trigger / condition)."""
    def validate(value: Any) -> dict:
        if not isinstance(value, dict):
            raise vol.Invalid(f"expected a {what} mapping")
        kind = value.get(key)
        if kind not in schemas:
            raise vol.Invalid(f"unknown {what} {kind!r}; one of {', '.join(schemas)}",
                              path=[key])
        return schemas[kind](value)
    return validate


_STATE_TRIGGER = vol.Schema({
    vol.Required("trigger"): "state",
    vol.Required("device"): _device_ids,
    vol.Optional("attribute"): vol.All(str, vol.Length(min=1)),
    vol.Optional("from"): one_or_more(state_value),
    vol.Optional("to"): one_or_more(state_value),
    vol.Optional("for"): duration,
}, extra=vol.PREVENT_EXTRA)

_TIME_TRIGGER = vol.Schema({
    vol.Required("trigger"): "time",
    vol.Required("at"): one_or_more(time_of_day),
    vol.Optional("weekdays"): weekdays,
}, extra=vol.PREVENT_EXTRA)

_INTERVAL_TRIGGER = vol.Schema({
    vol.Required("trigger"): "interval",
    vol.Required("every"): positive_duration,
}, extra=vol.PREVENT_EXTRA)

_EVENT_TRIGGER = vol.Schema({
    vol.Required("trigger"): "event",
    vol.Required("event_type"): vol.All(str, vol.Length(min=1)),
    vol.Optional("match", default=dict): dict,
}, extra=vol.PREVENT_EXTRA)

_WEBHOOK_TRIGGER = vol.Schema({
    vol.Required("trigger"): "webhook",
    vol.Required("webhook_id"): webhook_id,
}, extra=vol.PREVENT_EXTRA)

TRIGGER_SCHEMA = _by_key("trigger", {
    "state": _STATE_TRIGGER,
    "time": _TIME_TRIGGER,
    "interval": _INTERVAL_TRIGGER,
    "event": _EVENT_TRIGGER,
    "webhook": _WEBHOOK_TRIGGER,
}, "trigger")


def _time_window(value: dict) -> dict:
    if "after" not in value and "before" not in value and "weekdays" not in value:
        raise vol.Invalid("a time condition needs after, before or weekdays")
    return value


CONDITION_SCHEMA = _by_key("condition", {
    "state": vol.Schema({
        vol.Required("condition"): "state",
        vol.Required("device"): vol.All(str, vol.Length(min=1)),
        vol.Optional("attribute"): vol.All(str, vol.Length(min=1)),
        vol.Required("state"): one_or_more(state_value),
        vol.Optional("for"): duration,
    }, extra=vol.PREVENT_EXTRA),
    "time": vol.All(vol.Schema({
        vol.Required("condition"): "time",
        vol.Optional("after"): time_of_day,
        vol.Optional("before"): time_of_day,
        vol.Optional("weekdays"): weekdays,
    }, extra=vol.PREVENT_EXTRA), _time_window),
    "weekday": vol.Schema({
        vol.Required("condition"): "weekday",
        vol.Required("weekdays"): weekdays,
    }, extra=vol.PREVENT_EXTRA),
}, "condition")

_DEVICE_ACTION = vol.Schema({
    vol.Required("device"): vol.All(str, vol.Length(min=1)),
    vol.Required("action"): vol.All(str, vol.Length(min=1)),
    vol.Optional("params", default=dict): vol.Any(None, dict),
    vol.Optional("continue_on_error", default=False): bool,
}, extra=vol.PREVENT_EXTRA)

_DELAY_ACTION = vol.Schema({vol.Required("delay"): duration}, extra=vol.PREVENT_EXTRA)


def action_step(value: Any) -> dict:
    if not isinstance(value, dict):
        raise vol.Invalid("expected an action mapping: {device, action, params} or {delay}")
    if "delay" in value:
        return _DELAY_ACTION(value)
    step = _DEVICE_ACTION(value)
    if step["params"] is None:
        step["params"] = {}
    return step


def _defaults(value: dict) -> dict:
    # `max` only matters for queued and parallel; it is kept (not refused) for the others so
    # that normalised output validates again.
    value.setdefault("max", DEFAULT_MAX_RUNS)
    value.setdefault("alias", value["id"])
    return value


AUTOMATION_SCHEMA = vol.All(
    vol.Schema({
        vol.Required("id"): vol.All(str, vol.Match(
            _ID_RE, msg="an id is 1-64 characters of A-Z a-z 0-9 _ . -")),
        vol.Optional("alias"): vol.All(str, vol.Length(min=1, max=200)),
        vol.Optional("description"): str,
        vol.Optional("enabled", default=True): bool,
        vol.Optional("maturity", default="SUPERVISED"): maturity,
        vol.Optional("mode", default="single"): vol.In(MODES),
        vol.Optional("max"): vol.All(int, vol.Range(min=1, max=1000)),
        vol.Required("triggers"): vol.All([TRIGGER_SCHEMA], vol.Length(min=1)),
        vol.Optional("conditions", default=list): vol.Any(None, [CONDITION_SCHEMA]),
        vol.Required("actions"): vol.All([action_step], vol.Length(min=1)),
    }, extra=vol.PREVENT_EXTRA),
    _defaults,
)


def _unique(automations: list[dict]) -> list[dict]:
    ids: set[str] = set()
    webhooks: set[str] = set()
    for index, automation in enumerate(automations):
        if automation["id"] in ids:
            raise vol.Invalid(f"duplicate automation id {automation['id']!r}",
                              path=[index, "id"])
        ids.add(automation["id"])
        if automation["conditions"] is None:
            automation["conditions"] = []
        for t_index, trigger in enumerate(automation["triggers"]):
            if trigger["trigger"] == "webhook":
                if trigger["webhook_id"] in webhooks:
                    raise vol.Invalid("this webhook_id is already used by another trigger",
                                      path=[index, "triggers", t_index, "webhook_id"])
                webhooks.add(trigger["webhook_id"])
    return automations


AUTOMATIONS_SCHEMA = vol.All(vol.Any(None, [AUTOMATION_SCHEMA]), lambda v: v or [], _unique)
