"""Rate limits that keep one low-privilege principal from flooding the hub's records and logs.

`RefusalLimiter`: each principal may have `limit` requests refused (denied by governance or
invalid) per window of `window` seconds; each of those is audited as usual. Past the limit,
refused requests answer 429 with Retry-After until the window ends and are not audited one by
one: the first of them writes one `rate_limited` decision record, and once the window has
passed an outcome record with the same correlation id says how many were answered 429.
Allowed requests are never limited here.

`LogLimiter`: at most one log line per key and interval, saying how many were suppressed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from hub.audit import new_correlation_id
from hub.clock import Clock

DEFAULT_LIMIT = 30
DEFAULT_WINDOW = 10.0


@dataclass
class _Window:
    start: float
    refused: int = 0
    tripped: str | None = None  # correlation id of the rate_limited record
    suppressed: int = 0
    principal: Any = None


@dataclass
class Verdict:
    """What to do with one refused request: `record` it as usual, or answer 429; `trip` says
    this is the first over the limit in its window (write the rate_limited record)."""

    record: bool
    retry_after: float = 0.0
    trip: str | None = None


@dataclass
class Closed:
    """A window that ended after tripping: the outcome record to write."""

    correlation_id: str
    principal: Any
    suppressed: int
    window_start: float


class RefusalLimiter:
    def __init__(self, clock: Clock, *, limit: int = DEFAULT_LIMIT,
                 window: float = DEFAULT_WINDOW) -> None:
        self._clock = clock
        self.limit = limit
        self.window = window
        self._windows: dict[str, _Window] = {}

    def configure(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window

    def refused(self, principal: Any) -> Verdict:
        """Count one refused request of `principal` and say how to answer it."""
        now = self._clock.monotonic()
        win = self._windows.get(principal.id)
        if win is None or now - win.start >= self.window:
            win = self._windows[principal.id] = _Window(now, principal=principal)
        win.refused += 1
        if win.refused <= self.limit:
            return Verdict(True)
        retry = max(0.0, win.start + self.window - now)
        if win.tripped is None:
            win.tripped = new_correlation_id()
            return Verdict(False, retry, win.tripped)
        win.suppressed += 1
        return Verdict(False, retry)

    def closed(self) -> list[Closed]:
        """Windows that tripped and have ended (each reported once); stale windows dropped."""
        now = self._clock.monotonic()
        out = []
        for key, win in list(self._windows.items()):
            if now - win.start < self.window:
                continue
            del self._windows[key]
            if win.tripped is not None:
                out.append(Closed(win.tripped, win.principal, win.suppressed, win.start))
        return out

    def drain(self) -> list[Closed]:
        """Every tripped window, ended or not (at shutdown)."""
        out = [Closed(w.tripped, w.principal, w.suppressed, w.start)
               for w in self._windows.values() if w.tripped is not None]
        self._windows.clear()
        return out


@dataclass
class LogLimiter:
    """`allow(key)` is True at most once per `interval` seconds per key; the next allowed
    line can say how many were suppressed meanwhile (`suppressed(key)`)."""

    clock: Clock
    interval: float = 60.0
    _last: dict[str, float] = field(default_factory=dict)
    _dropped: dict[str, int] = field(default_factory=dict)

    def log(self, logger: logging.Logger, level: int, key: str, msg: str, *args: Any) -> None:
        now = self.clock.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._dropped[key] = self._dropped.get(key, 0) + 1
            return
        if len(self._last) > 1000:  # bounded: forget the oldest keys
            self._last.clear()
        self._last[key] = now
        dropped = self._dropped.pop(key, 0)
        if dropped:
            msg += f" ({dropped} more like it in the last {self.interval:g} s not logged)"
        logger.log(level, msg, *args)
