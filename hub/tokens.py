"""Principals and their bearer tokens.

Tokens are random (256 bits) and stored only as SHA-256 hashes; a token is shown once, at
creation. Authentication is a dictionary lookup: the active tokens live in memory and are
reloaded whenever the database changes, including changes made by `hub token ...` in another
process (the hub watches SQLite's data_version), so a revocation takes effect at once.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

from hub.clock import Clock
from hub.errors import Conflict, InvalidRequest, NotFound, Unauthenticated
from hub.maturity import Maturity
from hub.model import Principal
from hub.storage import Storage

OWNER_TOKEN_FILE = "owner.token"
TOKEN_PREFIX = "hub_"
KINDS = ("owner", "agent", "automation")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class MalformedToken(Unauthenticated):
    """A credential that cannot be a hub token at all (not ASCII, absurdly long): refused
    before hashing; worth one rate-limited log line, since it hints at a broken client."""


MAX_TOKEN_CHARS = 512


# Changes whenever a token is created, revoked or deleted (by this process or the CLI).
_FINGERPRINT = ("SELECT count(*), total(revoked_at), max(rowid), total(length(token_hash)) "
                "FROM tokens")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock
        self._by_hash: dict[str, Principal] = {}
        self._by_id: dict[str, Principal] = {}
        self._revoke_listeners: list[Callable[[str], None]] = []
        self._fingerprint: tuple | None = None

    async def changed(self) -> bool:
        """Whether the tokens table differs from what `load` last saw (cheap: one row)."""
        row = await self._storage.fetchone(_FINGERPRINT)
        return tuple(row) != self._fingerprint if row is not None else True

    async def load(self) -> None:
        row = await self._storage.fetchone(_FINGERPRINT)
        self._fingerprint = tuple(row) if row is not None else None
        rows = await self._storage.fetchall(
            "SELECT id, name, kind, maturity, token_hash FROM tokens WHERE revoked_at IS NULL")
        fresh = {r["token_hash"]: _principal(r) for r in rows}
        gone = {p.id for p in self._by_hash.values()} - {p.id for p in fresh.values()}
        self._by_hash = fresh
        self._by_id = {p.id: p for p in fresh.values()}
        for principal_id in gone:
            self._notify_revoked(principal_id)

    def add_revoke_listener(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """`callback(principal_id)` runs when that principal's token is revoked."""
        self._revoke_listeners.append(callback)
        return lambda: self._revoke_listeners.remove(callback)

    def _notify_revoked(self, principal_id: str) -> None:
        for callback in tuple(self._revoke_listeners):
            callback(principal_id)

    def get(self, principal_id: str) -> Principal | None:
        """The active principal with this id (None once its token is revoked)."""
        return self._by_id.get(principal_id)

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated("missing bearer token")
        if not token.isascii() or len(token) > MAX_TOKEN_CHARS:
            # Tokens are short ASCII; anything else (a non-UTF-8 byte in the header arrives
            # as a surrogate escape) cannot match, and must not reach the hash.
            raise MalformedToken("malformed bearer token")
        principal = self._by_hash.get(hash_token(token))
        if principal is None:
            raise Unauthenticated("invalid or revoked token")
        return principal

    def authenticate_header(self, header: str | None) -> Principal:
        if not header:
            raise Unauthenticated("missing Authorization: Bearer <token> header")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("expected Authorization: Bearer <token>")
        return self.authenticate(token.strip())

    async def create(
        self, name: str, *, kind: str = "agent", maturity: str | Maturity | None = None
    ) -> tuple[str, Principal]:
        """Create a principal and its token; returns (token, principal). Shown once."""
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise InvalidRequest(
                "a token name is 1-64 letters, digits, '_', '.', '@' or '-'", field="name")
        if kind not in KINDS:
            raise InvalidRequest(f"kind must be one of {', '.join(KINDS)}", field="kind")
        level: Maturity | None = None
        if kind == "owner":
            if maturity not in (None, ""):
                raise InvalidRequest("the owner has no maturity", field="maturity")
        else:
            try:
                level = maturity if isinstance(maturity, Maturity) else Maturity[
                    str(maturity or "STUDENT").upper()]
            except KeyError:
                raise InvalidRequest(
                    "maturity must be one of " + ", ".join(m.name for m in Maturity),
                    field="maturity") from None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        principal_id = uuid.uuid4().hex
        async with self._storage.transaction() as db:
            async with db.execute("SELECT 1 FROM tokens WHERE name = ?", (name,)) as cur:
                if await cur.fetchone():
                    raise Conflict(f"a token named {name!r} already exists", code="exists")
            await db.execute(
                "INSERT INTO tokens (id, name, kind, maturity, token_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (principal_id, name, kind, level.name if level else None, hash_token(token),
                 self._clock.time()))
        principal = Principal(principal_id, name, kind, level)
        self._by_hash[hash_token(token)] = principal
        self._by_id[principal_id] = principal
        return token, principal

    async def revoke(self, name: str) -> Principal:
        row = await self._storage.fetchone(
            "SELECT id, name, kind, maturity, token_hash FROM tokens "
            "WHERE name = ? AND revoked_at IS NULL", (name,))
        if row is None:
            raise NotFound(f"no active token named {name!r}")
        async with self._storage.transaction() as db:
            await db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?",
                             (self._clock.time(), row["id"]))
        self._by_hash.pop(row["token_hash"], None)
        self._by_id.pop(row["id"], None)
        self._notify_revoked(row["id"])
        return _principal(row)

    async def list(self) -> list[dict]:
        rows = await self._storage.fetchall(
            "SELECT name, kind, maturity, created_at, revoked_at FROM tokens ORDER BY created_at")
        return [
            {"name": r["name"], "kind": r["kind"], "maturity": r["maturity"],
             "created_at": r["created_at"], "revoked": r["revoked_at"] is not None}
            for r in rows
        ]

    async def ensure_owner(self, data_dir: Path) -> tuple[str | None, Path]:
        """At first start (no active owner), create one and write its token to
        `data_dir/owner.token` with mode 0600. Returns (token or None, path)."""
        path = data_dir / OWNER_TOKEN_FILE
        row = await self._storage.fetchone(
            "SELECT 1 FROM tokens WHERE kind = 'owner' AND revoked_at IS NULL")
        if row is not None:
            return None, path
        name = "owner"
        if await self._storage.fetchone("SELECT 1 FROM tokens WHERE name = ?", (name,)):
            name = f"owner-{secrets.token_hex(3)}"
        token, _ = await self.create(name, kind="owner")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, token.encode() + b"\n")
        finally:
            os.close(fd)
        os.chmod(path, 0o600)
        return token, path



def _principal(row) -> Principal:
    maturity = Maturity[row["maturity"]] if row["maturity"] else None
    return Principal(row["id"], row["name"], row["kind"], maturity)
