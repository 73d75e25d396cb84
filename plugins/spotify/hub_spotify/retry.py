"""How the plugin retries Spotify, shared by the Web API client and the token endpoint.

    one request        at most MAX_ATTEMPTS tries, whatever the mix of causes
    5xx, network       back off BACKOFF[n] seconds, then try again
    429 Retry-After    wait it out when the waits of this request stay within the cap,
                       else answer 429 with the remaining time
    a 429 window       remembered per key (an account, the accounts service): until it
                       ends, requests for that key wait or are answered 429 locally, without
                       spending Spotify's quota on a request that would be refused anyway

Every wait goes through the plugin's clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
from typing import Any

import aiohttp

from hub.plugin import RateLimited

MAX_ATTEMPTS = 4  # one try and at most three retries
BACKOFF = (0.5, 1.0, 2.0)  # seconds before the retries after 5xx or network errors


def backoff(attempt: int) -> float:
    return BACKOFF[min(attempt, len(BACKOFF) - 1)]


def retry_after(headers: Any) -> float:
    """Retry-After in seconds (Spotify sends an integer); 1 when missing or unreadable."""
    try:
        return max(0.0, float(headers.get("Retry-After", "1")))
    except (TypeError, ValueError):
        return 1.0


def unsent(exc: BaseException) -> bool:
    """Whether a network error happened before the request reached Spotify (so repeating a
    command cannot apply it twice): only a failed connection guarantees that."""
    return isinstance(exc, aiohttp.ClientConnectorError)


class RateWindows:
    """The Retry-After windows Spotify asked for, per key, on the clock's monotonic time."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}

    def open(self, key: str, seconds: float) -> None:
        until = self._clock.monotonic() + seconds
        if until > self._until.get(key, 0.0):
            self._until[key] = until

    def remaining(self, key: str) -> float:
        until = self._until.get(key)
        if until is None:
            return 0.0
        left = until - self._clock.monotonic()
        if left <= 0:
            del self._until[key]
            return 0.0
        return left


class Attempts:
    """The retry budget of one request: which try this is and how long it has waited.

    `patient=False` makes every wait an answer instead (a read-back that must not hold up a
    command's answer): a 429 or 5xx then raises at once, while a token refresh still may."""

    def __init__(self, clock: Any, cap: float, *, patient: bool = True) -> None:
        self._clock = clock
        self._cap = cap
        self.patient = patient
        self.number = 0
        self.waited = 0.0

    def __iter__(self) -> Attempts:
        return self

    def __next__(self) -> int:
        if self.number >= MAX_ATTEMPTS:
            raise StopIteration
        self.number += 1
        return self.number

    @property
    def last(self) -> bool:
        return self.number >= MAX_ATTEMPTS

    def can_wait(self, seconds: float) -> bool:
        return self.patient and not self.last and self.waited + seconds <= self._cap

    def can_back_off(self) -> bool:
        return self.patient and not self.last

    async def wait(self, seconds: float) -> None:
        self.waited += seconds
        await self._clock.sleep(seconds)

    async def back_off(self) -> None:
        await self.wait(backoff(self.number - 1))

    async def respect(self, windows: RateWindows, key: str, what: str) -> None:
        """Wait out `key`'s open Retry-After window when the budget allows, else answer 429
        locally with the time left."""
        left = windows.remaining(key)
        if not left:
            return
        if self.patient and self.waited + left <= self._cap:
            await self.wait(left)
            return
        raise RateLimited(f"{what} rate limit: Spotify asked to wait {math.ceil(left)} s more",
                          retry_after=math.ceil(left), local=True)
