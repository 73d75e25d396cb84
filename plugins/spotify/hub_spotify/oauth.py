"""Linking an account: the authorization URL with PKCE S256, and the pending states.

A state is single-use, bound to the hub principal who asked for it and expires after ten
minutes. The PKCE verifier lives only in memory next to its state: it is needed for one
exchange a few minutes later, so there is nothing to gain by writing it anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

STATE_LIFETIME = 600.0
MAX_PENDING = 32  # more concurrent link attempts than this is abuse, not a household


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_verifier() -> str:
    # 96 characters of the unreserved set; RFC 7636 allows 43 to 128.
    return secrets.token_urlsafe(72)


@dataclass
class PendingLink:
    state: str
    principal_id: str
    verifier: str = field(repr=False)
    redirect_uri: str
    created: float  # clock.monotonic()


class PendingLinks:
    """The states handed out by the authorize route and not yet used."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._pending: dict[str, PendingLink] = {}

    def create(self, principal_id: str, redirect_uri: str) -> PendingLink:
        self._purge()
        if len(self._pending) >= MAX_PENDING:
            oldest = min(self._pending.values(), key=lambda p: p.created)
            del self._pending[oldest.state]
        link = PendingLink(secrets.token_urlsafe(24), principal_id, new_verifier(),
                           redirect_uri, self._clock.monotonic())
        self._pending[link.state] = link
        return link

    def consume(self, state: str | None) -> PendingLink | None:
        """The pending link for `state`, removed so it can never be used again; None when the
        state is unknown, already used or expired."""
        self._purge()
        if not state:
            return None
        return self._pending.pop(state, None)

    def _purge(self) -> None:
        now = self._clock.monotonic()
        for state, link in list(self._pending.items()):
            if now - link.created >= STATE_LIFETIME:
                del self._pending[state]

    def __len__(self) -> int:
        return len(self._pending)


def authorize_url(accounts_url: str, *, client_id: str, redirect_uri: str, scopes: list[str],
                  link: PendingLink, show_dialog: bool = False) -> str:
    query = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": link.state,
        "code_challenge_method": "S256",
        "code_challenge": code_challenge(link.verifier),
    }
    if show_dialog:
        query["show_dialog"] = "true"
    return f"{accounts_url}/authorize?{urlencode(query)}"
