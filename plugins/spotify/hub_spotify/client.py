"""The Spotify Web API client: every request of the plugin goes through `SpotifyClient.call`,
and every Spotify error becomes a hub error in `_failure`, the one mapping place.

    401            refresh the token once and retry; a second 401 is an upstream error
    403 PREMIUM_REQUIRED    403 premium_required; other 403s: 409 command_refused
    404 NO_ACTIVE_DEVICE    409 no_active_device; other 404s: 409 spotify_not_found
    429            wait Retry-After (clock) and retry while within the cap, else 429 retry_after
    5xx, network   bounded backoff, then 502
    400            400 invalid_request with Spotify's message
    any 2xx        success; command bodies are never parsed (204, 202, opaque 200 all seen)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from hub.plugin import Conflict, Forbidden, InvalidRequest, RateLimited, UpstreamError
from hub_spotify.tokens import TokenManager

MAX_ATTEMPTS = 4  # one try and at most three retries, whatever the mix of causes
BACKOFF = (0.5, 1.0, 2.0)  # seconds before the retries after 5xx or network errors
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class _Retry:
    delay: float = 0.0
    refresh: bool = False


class SpotifyClient:
    def __init__(self, *, session: Callable[[], aiohttp.ClientSession], api_url: str,
                 tokens: TokenManager, clock: Any, retry_after_cap: float, log: Any) -> None:
        self._session = session
        self._api_url = api_url
        self._tokens = tokens
        self._clock = clock
        self._cap = retry_after_cap
        self._log = log

    async def call(self, account: str, method: str, path: str, *,
                   params: dict[str, Any] | None = None, json: Any = None,
                   command: bool = False, token: str | None = None) -> Any:
        """Send one request for `account`; the parsed JSON of a read, None for a command or a
        204. Retries are bounded by MAX_ATTEMPTS and waits go through the clock.

        `token` sends with that access token instead of the account's (while linking, before
        anything is stored); a 401 then cannot be cured by a refresh."""
        fixed_token = token
        refreshed = fixed_token is not None
        waited = 0.0
        for attempt in range(MAX_ATTEMPTS):
            token = fixed_token or await self._tokens.access_token(account)
            try:
                status, headers, body = await self._send(token, method, path, params, json)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, headers, body = 0, {}, type(exc).__name__
            if 200 <= status < 300:
                if command or status == 204 or not isinstance(body, (dict, list)):
                    return None
                return body
            retry = self._failure(status, headers, body, attempt=attempt, refreshed=refreshed,
                                  waited=waited)
            if retry.refresh:
                refreshed = True
                await self._tokens.refresh(account, stale=token)
            if retry.delay:
                waited += retry.delay
                await self._clock.sleep(retry.delay)
        # Only reachable when every attempt asked for another one.
        raise UpstreamError(f"Spotify did not answer {method} {path} after {MAX_ATTEMPTS} tries")

    async def _send(self, token: str, method: str, path: str, params: dict[str, Any] | None,
                    json: Any) -> tuple[int, Any, Any]:
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
            return resp.status, resp.headers, body

    def _failure(self, status: int, headers: Any, body: Any, *, attempt: int, refreshed: bool,
                 waited: float) -> _Retry:
        """Map one failed answer: return how to retry, or raise the hub error."""
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or f"HTTP {status}")
        reason = error.get("reason")
        last = attempt + 1 >= MAX_ATTEMPTS
        if status == 401:
            if refreshed or last:
                raise UpstreamError(f"Spotify rejected a fresh access token: {message}",
                                    code="spotify_unauthorized")
            return _Retry(refresh=True)
        if status == 403:
            if reason == "PREMIUM_REQUIRED":
                raise Forbidden("Spotify Premium is required to control playback",
                                code="premium_required")
            raise Conflict(f"Spotify refused the command: {message}", code="command_refused",
                           spotify_reason=reason)
        if status == 404:
            if reason == "NO_ACTIVE_DEVICE":
                raise Conflict("No active Spotify device: start playback on a device or "
                               "select a source first", code="no_active_device")
            raise Conflict(f"Spotify: {message}", code="spotify_not_found",
                           spotify_reason=reason)
        if status == 429:
            retry_after = _retry_after(headers)
            if not last and waited + retry_after <= self._cap:
                return _Retry(delay=retry_after)
            raise RateLimited("Spotify rate limit reached", retry_after=retry_after)
        if status == 0 or status >= 500:
            if not last:
                return _Retry(delay=BACKOFF[min(attempt, len(BACKOFF) - 1)])
            what = f"HTTP {status}" if status else f"no answer ({body})"
            raise UpstreamError(f"Spotify failed: {what}")
        if status == 400:
            raise InvalidRequest(f"Spotify refused the request: {message}")
        raise UpstreamError(f"Spotify answered HTTP {status}: {message}")


def _retry_after(headers: Any) -> float:
    """Retry-After in seconds (Spotify sends an integer); 1 when missing or unreadable."""
    try:
        return max(0.0, float(headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
