"""The value types of the `automations:` section, as voluptuous validators that normalise.

Durations become seconds, times of day "HH:MM:SS", weekdays `mon`..`sun`; normalised values
validate again unchanged. YAML 1.1 pitfalls handled here: `to: off` arrives as False (read
back as "off"), and an unquoted `at: 9:30` arrives as the sexagesimal integer 570 (read back
as 09:30).
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
LOG_LEVELS = ("silent", "debug", "info", "warning", "error", "critical")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EVENT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
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


def signed_duration(value: Any) -> float:
    """A duration that may be negative ("-00:05:00", -300): an offset."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return -duration(value.strip()[1:])
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return -duration(-value)
    return duration(value)


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
    schema = vol.Schema(validator)

    def validate(value: Any) -> list:
        if not isinstance(value, list):
            return [schema(value)]
        if not value:
            raise vol.Invalid("expected at least one value")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(schema(item))
            except vol.Invalid as err:
                err.prepend([index])
                raise
        return out
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




def identifier(value: Any) -> str:
    """A variable name usable in templates."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise vol.Invalid(f"{value!r} is not a variable name (letters, digits and _)")
    return value


def device_ref(value: Any) -> str:
    """A device id, a glob over ids (`sonos.*`), `name:Living Room`, or `all` (every device)."""
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("expected a device id (sonos.RINCON_...), a glob (sonos.*) or "
                          "name:<device name>")
    if len(value) > 256 or any(ord(c) < 32 for c in value):
        raise vol.Invalid("a device reference is at most 256 printable characters")
    value = value.strip()
    return "*" if value == "all" else value


device_refs = one_or_more(device_ref)


def is_glob(ref: str) -> bool:
    return any(c in ref for c in "*?[")


def event_type(value: Any) -> str:
    if not isinstance(value, str) or not _EVENT_RE.match(value):
        raise vol.Invalid("an event type is 1-64 of a-z A-Z 0-9 _ . - (e.g. doorbell_pressed)")
    return value


def number(value: Any) -> float:
    if isinstance(value, bool):
        raise vol.Invalid("expected a number")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise vol.Invalid(f"expected a number, not {value!r}") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise vol.Invalid("expected a finite number")
    return int(result) if isinstance(value, int) else result


def log_level(value: Any) -> str:
    """`max_exceeded`: silent, or the level of the log line (Home Assistant's names)."""
    name = str(value).strip().lower()
    name = {"warn": "warning", "fatal": "critical", "notset": "debug"}.get(name, name)
    if name not in LOG_LEVELS:
        raise vol.Invalid(f"expected one of {', '.join(LOG_LEVELS)}")
    return name


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:64]


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
    """`event_data:` of an event trigger: every key of the pattern must be in the data with
    an equal value; nested mappings match recursively (a subset), lists match one of."""
    if isinstance(pattern, dict):
        if not isinstance(data, dict):
            return False
        return all(key in data and data_matches(value, data[key])
                   for key, value in pattern.items())
    if isinstance(pattern, list) and not isinstance(data, list):
        return values_match(pattern, data)
    return values_match([pattern], data)
