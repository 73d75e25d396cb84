"""Wall-clock time in the hub's time zone, for time triggers and time conditions.

The zone is `hub.time_zone` from the config when set, else the system's local zone. All
reading of "now" goes through the hub's Clock (so tests can move it); this module only does
calendar arithmetic.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.automations.values import WEEKDAYS, parse_time_of_day

_LOGGER = logging.getLogger("hub.automations")

# None means "the system's local zone": datetime.fromtimestamp(ts, None) gives naive local
# time and naive.timestamp() reads it back through the C library, both DST-aware.
TimeZone = dt.tzinfo | None


def hub_time_zone(hub: Any) -> TimeZone:
    settings = getattr(getattr(hub, "config", None), "hub", None) or {}
    name = settings.get("time_zone") if isinstance(settings, dict) else None
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # The config schema should refuse it; if it gets here, run on local time rather
        # than refuse to start.
        _LOGGER.error("unknown time zone %r in hub.time_zone; using the system's", name)
        return None


def local(epoch: float, tz: TimeZone) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz)


def weekday_name(moment: dt.datetime) -> str:
    return WEEKDAYS[moment.weekday()]


def seconds_of_day(moment: dt.datetime) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


def next_occurrence(now: float, at: str, weekdays: list[str] | None, tz: TimeZone) -> float:
    """Epoch of the first `at` (HH:MM:SS local) strictly after `now` on an allowed weekday."""
    hours, minutes, seconds = parse_time_of_day(at)
    today = local(now, tz).date()
    for offset in range(8):
        day = today + dt.timedelta(days=offset)
        if weekdays and WEEKDAYS[day.weekday()] not in weekdays:
            continue
        candidate = dt.datetime.combine(day, dt.time(hours, minutes, seconds), tzinfo=tz)
        epoch = candidate.timestamp()
        if epoch > now:
            return epoch
    raise ValueError("no occurrence within a week")  # unreachable: weekdays is never empty


def in_window(now: float, after: str | None, before: str | None, weekdays: list[str] | None,
              tz: TimeZone) -> bool:
    """True when local `now` is in [after, before) on an allowed weekday. A window whose
    `after` is later than its `before` spans midnight (22:00-06:00); its weekday is the day
    it started on."""
    moment = local(now, tz)
    of_day = seconds_of_day(moment)
    start = _seconds(after) if after else None
    end = _seconds(before) if before else None
    day = moment
    if start is not None and end is not None and start > end:
        if of_day >= start:
            inside = True
        elif of_day < end:
            inside = True
            day = moment - dt.timedelta(days=1)  # the window opened yesterday evening
        else:
            inside = False
    else:
        inside = (start is None or of_day >= start) and (end is None or of_day < end)
    if inside and weekdays:
        inside = weekday_name(day) in weekdays
    return inside


def _seconds(at: str) -> int:
    hours, minutes, seconds = parse_time_of_day(at)
    return hours * 3600 + minutes * 60 + seconds
