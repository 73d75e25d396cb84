"""Token life of linked accounts: stored only in the vault, refreshed ahead of expiry, one
refresh at a time per account.

Each linked account is one vault entry `account.<id>` holding its tokens and the little we
know about it. Non-secret facts (name, product, link time, relink state) are mirrored in
`AccountInfo` so status and device naming never have to touch secrets.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from hub.plugin import Conflict, RateLimited, RelinkRequired, UpstreamError
from hub_spotify.retry import Attempts, RateWindows, retry_after
from hub_spotify.state import account_slug

# Refresh this long before the access token expires, so a request never leaves with a token
# that dies on the way; for short-lived tokens a tenth of their lifetime (a fixed minute
# would refresh a 5 s token before every request).
REFRESH_MARGIN = 60.0
MARGIN_SHARE = 0.1
DEFAULT_LIFETIME = 3600.0  # what Spotify issues, and what an answer without expires_in means
ACCOUNTS = "accounts service"  # the RateWindows key of /api/token
# Spotify refresh tokens live six months from the user's authorization (since July 2026);
# refreshing does not extend them.
REFRESH_TOKEN_LIFETIME = 183 * 24 * 3600.0
TOKEN_TIMEOUT = aiohttp.ClientTimeout(total=15)
VAULT_PREFIX = "account."


@dataclass
class AccountInfo:
    """What may be shown about a linked account: no secret in here."""

    id: str
    user_id: str
    display_name: str
    product: str
    authorized_at: float
    linked_by: str | None = None
    relink_required: bool = False
    relink_reason: str | None = None
    scope: str = ""  # what the user granted, space-separated

    def status(self, now: float) -> dict[str, Any]:
        age = max(0.0, now - self.authorized_at)
        return {
            "id": self.id,
            "display_name": self.display_name,
            "product": self.product,
            "relink_required": self.relink_required,
            "relink_reason": self.relink_reason,
            "linked_at": self.authorized_at,
            "linked_by": self.linked_by,
            "refresh_token_age_days": round(age / 86400, 1),
            "refresh_token_expires_at": self.authorized_at + REFRESH_TOKEN_LIFETIME,
            "refresh_token_days_left": round(max(0.0, REFRESH_TOKEN_LIFETIME - age) / 86400, 1),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AccountInfo:
        return cls(record["id"], record["user_id"], record["display_name"],
                   record.get("product", "unknown"), record["authorized_at"],
                   record.get("linked_by"), record.get("relink_required", False),
                   record.get("relink_reason"), record.get("scope") or "")


class TokenEndpointError(UpstreamError):
    """The accounts service refused a grant; carries Spotify's description (never a secret)."""

    code = "token_exchange_failed"


class TokenManager:
    """Access tokens for each account, from the vault, refreshed single-flight.

    `on_relink(account_id, reason)` is called once when Spotify answers invalid_grant: the
    plugin marks that account's devices unavailable and emits an event.
    """

    def __init__(self, *, vault: Any, session: Callable[[], aiohttp.ClientSession],
                 accounts_url: str, client_id: str, client_secret: str | None, clock: Any,
                 log: Any, on_relink: Callable[[str, str], None],
                 retry_after_cap: float = 5.0) -> None:
        self._vault = vault
        self._session = session
        self._accounts_url = accounts_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._log = log
        self._on_relink = on_relink
        self._retry_after_cap = retry_after_cap
        self.windows = RateWindows(clock)
        self._locks: dict[str, asyncio.Lock] = {}
        self.accounts: dict[str, AccountInfo] = {}

    # -- the vault ------------------------------------------------------------------------------

    async def load(self) -> list[AccountInfo]:
        """Read the linked accounts from the vault (at startup)."""
        for name in await self._vault.names():
            if name.startswith(VAULT_PREFIX):
                record = await self._vault.get(name)
                if record:
                    self.accounts[record["id"]] = AccountInfo.from_record(record)
        return list(self.accounts.values())

    async def _record(self, account_id: str) -> dict[str, Any]:
        record = await self._vault.get(VAULT_PREFIX + account_id)
        if record is None:
            raise RelinkRequired(f"Spotify account {account_id} is not linked",
                                 account=account_id)
        return record

    def account_id_for(self, user_id: str) -> str:
        """The hub id for a Spotify user: the one it already has when it was linked before
        (ids never change, also across versions that named accounts differently), else
        `account_slug(user_id)`, moved aside (`--2`, which the slug never produces) if an
        older account already holds it."""
        for info in self.accounts.values():
            if info.user_id == user_id:
                return info.id
        base = account_slug(user_id)
        candidate, n = base, 1
        while candidate in self.accounts:
            n += 1
            candidate = f"{base}--{n}"
        return candidate

    async def store_link(self, record: dict[str, Any]) -> AccountInfo:
        """Store a freshly linked (or re-linked) account and its tokens. Replacing the grant
        of the same Spotify user is re-linking; another user's grant is never replaced."""
        existing = await self._vault.get(VAULT_PREFIX + record["id"])
        if existing is not None and existing.get("user_id") != record["user_id"]:
            raise Conflict(
                f"the hub account {record['id']} belongs to another Spotify user; "
                "not replacing its grant", code="account_conflict")
        await self._vault.set(VAULT_PREFIX + record["id"], record)
        info = AccountInfo.from_record(record)
        self.accounts[info.id] = info
        return info

    # -- the accounts service ---------------------------------------------------------------

    def _client_auth(self, form: dict[str, str]) -> dict[str, str]:
        """A confidential client authenticates with Basic; a PKCE public client names itself
        in the form instead."""
        if self._client_secret:
            raw = f"{self._client_id}:{self._client_secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        form["client_id"] = self._client_id
        return {}

    async def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """POST one grant to /api/token and return the answer, or raise a mapped error.

        5xx and network failures are retried with backoff and a 429's Retry-After is waited
        out within the cap, like the Web API (hub_spotify.retry); giving up answers 502
        upstream_error or 429 rate_limited, never token_exchange_failed, which means Spotify
        refused the grant itself. Errors are RFC 6749 objects; Spotify's `error_description`
        is passed on, it never holds a secret. Nothing of the form (code, verifier, tokens)
        goes into a message."""
        headers = self._client_auth(form)
        attempts = Attempts(self._clock, self._retry_after_cap)
        failed_before = False
        for _ in attempts:
            await attempts.respect(self.windows, ACCOUNTS, "Spotify accounts service")
            try:
                status, retry_header, body = await self._post(form, headers)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, retry_header, body = 0, None, type(exc).__name__
            if status == 200 and isinstance(body, dict) and body.get("access_token"):
                return body
            if status == 429:
                wait = retry_after({"Retry-After": retry_header or "1"})
                self.windows.open(ACCOUNTS, wait)
                if attempts.can_wait(wait):
                    continue
                raise RateLimited("Spotify accounts service rate limit", retry_after=wait)
            if status == 0 or status >= 500:
                failed_before = True
                if attempts.can_back_off():
                    await attempts.back_off()
                    continue
                what = f"HTTP {status}" if status else f"no answer ({body})"
                raise UpstreamError(
                    f"Spotify accounts service failed: {what} after {attempts.number} tries")
            error = body.get("error") if isinstance(body, dict) else None
            description = body.get("error_description") if isinstance(body, dict) else None
            if isinstance(error, str):
                message = f"Spotify token endpoint: {error}" + (
                    f" ({description})" if isinstance(description, str) else "")
                if failed_before and error == "invalid_grant":
                    message += ("; an earlier try failed on Spotify's side and may have used "
                                "the grant up")
                raise TokenEndpointError(message, spotify_error=error)
            raise UpstreamError(f"Spotify token endpoint answered HTTP {status}")
        raise UpstreamError("Spotify accounts service did not answer")

    async def _post(self, form: dict[str, str],
                    headers: dict[str, str]) -> tuple[int, str | None, Any]:
        async with self._session().post(
            f"{self._accounts_url}/api/token", data=form, headers=headers,
            timeout=TOKEN_TIMEOUT,
        ) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            return resp.status, resp.headers.get("Retry-After"), body

    # -- access tokens --------------------------------------------------------------------------

    async def access_token(self, account_id: str) -> str:
        """A valid access token for the account, refreshing it first when due."""
        record = await self._record(account_id)
        self._check_linked(record)
        if _due(record, self._clock.time()):
            return await self.refresh(account_id, stale=record["access_token"])
        return record["access_token"]

    def _check_linked(self, record: dict[str, Any]) -> None:
        if record.get("relink_required"):
            raise RelinkRequired(
                f"Spotify account {record['id']} must be linked again "
                f"({record.get('relink_reason') or 'authorization expired'}): "
                "run `hub spotify link`", account=record["id"])

    async def refresh(self, account_id: str, *, stale: str | None) -> str:
        """Refresh the access token, once for all callers holding the same stale token.

        Callers queue on the account's lock; whoever gets it after a refresh finds a token
        other than the one it saw and just uses it, so N concurrent callers cause one
        request to Spotify."""
        lock = self._locks.setdefault(account_id, asyncio.Lock())
        async with lock:
            record = await self._record(account_id)
            self._check_linked(record)
            # Someone refreshed while we queued: use theirs while it is valid, even inside
            # the margin, so a crowd of waiters never causes a second refresh.
            if record["access_token"] != stale and record["expires_at"] > self._clock.time():
                return record["access_token"]
            try:
                answer = await self.grant({"grant_type": "refresh_token",
                                           "refresh_token": record["refresh_token"]})
            except TokenEndpointError as exc:
                if exc.extra.get("spotify_error") == "invalid_grant":
                    await self._mark_relink(record, exc.message)
                    self._check_linked(record)
                raise
            record["access_token"] = answer["access_token"]
            record.update(_expiry(answer, self._clock.time()))
            # Spotify may rotate the refresh token: store the new one before anything can use
            # it; when the answer has none, keep the old one (Spotify: "continue using it").
            if answer.get("refresh_token"):
                record["refresh_token"] = answer["refresh_token"]
            if answer.get("scope") is not None:
                record["scope"] = answer["scope"]
                info = self.accounts.get(account_id)
                if info is not None:
                    info.scope = str(answer["scope"])
            await self._vault.set(VAULT_PREFIX + account_id, record)
            return record["access_token"]

    async def _mark_relink(self, record: dict[str, Any], reason: str) -> None:
        # The grant is dead: drop the tokens so nothing can ever send them again.
        record.update(relink_required=True, relink_reason=reason, access_token=None,
                      refresh_token=None, expires_at=0)
        await self._vault.set(VAULT_PREFIX + record["id"], record)
        info = self.accounts.get(record["id"])
        if info is not None:
            info.relink_required, info.relink_reason = True, reason
        self._log.warning("Spotify account %s needs re-linking: %s", record["id"], reason)
        self._on_relink(record["id"], reason)


def refresh_margin(lifetime: float) -> float:
    return min(REFRESH_MARGIN, MARGIN_SHARE * lifetime)


def _due(record: dict[str, Any], now: float) -> bool:
    """Whether the access token should be refreshed before it is sent."""
    lifetime = float(record.get("lifetime") or DEFAULT_LIFETIME)
    return record["expires_at"] - refresh_margin(lifetime) <= now


def _expiry(answer: dict[str, Any], now: float) -> dict[str, float]:
    try:
        lifetime = float(answer.get("expires_in", DEFAULT_LIFETIME))
    except (TypeError, ValueError):
        lifetime = DEFAULT_LIFETIME
    lifetime = max(1.0, lifetime)
    return {"expires_at": now + lifetime, "lifetime": lifetime}


def token_record(answer: dict[str, Any], *, account_id: str, me: dict[str, Any], now: float,
                 linked_by: str | None) -> dict[str, Any]:
    """The vault record of a freshly linked account."""
    if not answer.get("refresh_token"):
        raise UpstreamError("Spotify did not return a refresh token")
    return {
        "id": account_id,
        "user_id": me["id"],
        "display_name": me.get("display_name") or me["id"],
        "product": me.get("product", "unknown"),
        "access_token": answer["access_token"],
        "refresh_token": answer["refresh_token"],
        **_expiry(answer, now),
        "scope": answer.get("scope", ""),
        "authorized_at": now,
        "linked_by": linked_by,
        "relink_required": False,
        "relink_reason": None,
    }
