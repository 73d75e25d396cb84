"""The Spotify Web API client: every request of the plugin goes through `SpotifyClient.call`,
and every Spotify error becomes a hub error in `_failure`, the one mapping place.

    401            refresh the token once and retry; a second 401 is an upstream error
    403 PREMIUM_REQUIRED    403 premium_required; "Insufficient client scope": 409
                   insufficient_scope (link again); other 403s: 409 command_refused
    404 NO_ACTIVE_DEVICE    409 no_active_device; other 404s: 409 spotify_not_found
    429            remember the account's Retry-After window; wait it out (clock) while
                   within the cap, else 429 rate_limited. While a window is open, requests
                   for that account wait or are answered 429 without reaching Spotify
    5xx, network   bounded backoff, then 502 upstream_error; a non-idempotent command
                   (POST: next, previous, queue) is never repeated after a failure that
                   may have been applied: 502 outcome_unknown at once
    400            400 invalid_request with Spotify's message
    any 2xx        success; command bodies are never parsed (204, 202, opaque 200 all seen)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from hub.plugin import Conflict, Forbidden, InvalidRequest, RateLimited, UpstreamError
from hub_spotify.retry import MAX_ATTEMPTS, Attempts, RateWindows, retry_after, unsent
from hub_spotify.tokens import TokenManager

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)
INSUFFICIENT_SCOPE = "insufficient client scope"

__all__ = ["MAX_ATTEMPTS", "SpotifyClient"]


@dataclass
class _Answer:
    status: int
    headers: Any
    body: Any
    sent: bool = True  # False only when the connection itself failed


class SpotifyClient:
    def __init__(self, *, session: Callable[[], aiohttp.ClientSession], api_url: str,
                 tokens: TokenManager, clock: Any, retry_after_cap: float, log: Any) -> None:
        self._session = session
        self._api_url = api_url
        self._tokens = tokens
        self._clock = clock
        self._cap = retry_after_cap
        self._log = log
        self.windows = RateWindows(clock)

    async def call(self, account: str, method: str, path: str, *,
                   params: dict[str, Any] | None = None, json: Any = None,
                   command: bool = False, token: str | None = None,
                   patient: bool = True, wait_cap: float | None = None) -> Any:
        """Send one request for `account`; the parsed JSON of a read, None for a command or a
        204. Retries are bounded (hub_spotify.retry) and waits go through the clock.

        `token` sends with that access token instead of the account's (while linking, before
        anything is stored); a 401 then cannot be cured by a refresh. `patient=False` never
        waits: a 429 or 5xx is answered at once (read-backs that must not delay an answer);
        `wait_cap` lowers the longest Retry-After waited out (someone is waiting).
        """
        fixed_token = token
        refreshed = fixed_token is not None
        # POST commands (next, previous, queue) are not idempotent: never sent twice unless
        # Spotify certainly did not apply the first one.
        idempotent = method != "POST"
        cap = self._cap if wait_cap is None else min(self._cap, wait_cap)
        attempts = Attempts(self._clock, cap, patient=patient)
        for _ in attempts:
            await attempts.respect(self.windows, account, "Spotify")
            token = fixed_token or await self._tokens.access_token(account)
            try:
                answer = await self._send(token, method, path, params, json)
            except (aiohttp.ClientError, TimeoutError) as exc:
                answer = _Answer(0, {}, type(exc).__name__, sent=not unsent(exc))
            if 200 <= answer.status < 300:
                body = answer.body
                if command or answer.status == 204 or not isinstance(body, (dict, list)):
                    return None
                return body
            if answer.status == 401:
                if refreshed or attempts.last:
                    raise UpstreamError(
                        f"Spotify rejected a fresh access token: {_message(answer)}",
                        code="spotify_unauthorized")
                refreshed = True
                await self._tokens.refresh(account, stale=token)
                continue
            if answer.status == 429:
                wait = retry_after(answer.headers)
                self.windows.open(account, wait)
                if attempts.can_wait(wait):
                    continue  # the next round waits the window out
                raise RateLimited("Spotify rate limit reached", retry_after=wait)
            if answer.status == 0 or answer.status >= 500:
                what = (f"HTTP {answer.status}" if answer.status
                        else f"no answer ({answer.body})")
                if not idempotent and answer.sent:
                    raise UpstreamError(
                        f"Spotify failed on {method} {path} ({what}) and may or may not have "
                        "applied it; the hub did not repeat it, so it is not applied twice: "
                        "check the player's state before trying again",
                        code="outcome_unknown")
                if attempts.can_back_off():
                    await attempts.back_off()
                    continue
                tries = f" after {attempts.number} tries" if attempts.number > 1 else ""
                raise UpstreamError(f"Spotify failed: {what}{tries}")
            self._failure(answer)
        # Only reachable when every attempt asked for another one.
        raise UpstreamError(f"Spotify did not answer {method} {path} after {MAX_ATTEMPTS} tries")

    async def _send(self, token: str, method: str, path: str, params: dict[str, Any] | None,
                    json: Any) -> _Answer:
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"},
                                  "timeout": REQUEST_TIMEOUT}
        if params:
            kwargs["params"] = {k: _query_value(v) for k, v in params.items() if v is not None}
        if json is not None:
            kwargs["json"] = json
        async with self._session().request(method, self._api_url + path, **kwargs) as resp:
            if resp.content_type == "application/json":
                try:
                    body = await resp.json()
                except ValueError:
                    body = None
            else:
                await resp.read()  # an opaque 200 or an empty 204: drained, never parsed
                body = None
            return _Answer(resp.status, resp.headers, body)

    @staticmethod
    def _failure(answer: _Answer) -> None:
        """Raise the hub error for an answer that no retry can cure."""
        status = answer.status
        message = _message(answer)
        reason = _error(answer).get("reason")
        if status == 403:
            if reason == "PREMIUM_REQUIRED":
                raise Forbidden("Spotify Premium is required to control playback",
                                code="premium_required")
            if message.lower() == INSUFFICIENT_SCOPE:
                raise Conflict(
                    "The account was linked without a permission this needs: run "
                    "`hub spotify link` again to grant it", code="insufficient_scope")
            raise Conflict(f"Spotify refused the command: {message}", code="command_refused",
                           spotify_reason=reason)
        if status == 404:
            if reason == "NO_ACTIVE_DEVICE":
                raise Conflict("No active Spotify device: start playback on a device or "
                               "select a source first", code="no_active_device")
            raise Conflict(f"Spotify: {message}", code="spotify_not_found",
                           spotify_reason=reason)
        if status == 400:
            raise InvalidRequest(f"Spotify refused the request: {message}")
        raise UpstreamError(f"Spotify answered HTTP {status}: {message}")


def _error(answer: _Answer) -> dict[str, Any]:
    error = answer.body.get("error") if isinstance(answer.body, dict) else None
    return error if isinstance(error, dict) else {}


def _message(answer: _Answer) -> str:
    return str(_error(answer).get("message") or f"HTTP {answer.status}")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
