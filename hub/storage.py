"""The hub's one SQLite database (aiosqlite, WAL) and its versioned migrations."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

DB_FILE = "hub.db"

# Each entry upgrades the schema by one version (PRAGMA user_version). Append only: never edit
# a migration that has shipped.
MIGRATIONS: list[str] = [
    # 1: tokens, vault, audit, meta
    """
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('owner', 'agent', 'automation')),
        maturity TEXT,
        token_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE TABLE vault (
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        ciphertext BLOB NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (namespace, name)
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        correlation_id TEXT NOT NULL,
        record TEXT NOT NULL,
        principal TEXT,
        principal_kind TEXT,
        maturity TEXT,
        source TEXT,
        device TEXT,
        action TEXT,
        params TEXT,
        decision TEXT,
        reason TEXT,
        required TEXT,
        outcome TEXT,
        error TEXT,
        duration_ms REAL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_device ON audit (device, seq);
    CREATE INDEX audit_principal ON audit (principal, seq);
    CREATE INDEX audit_ts ON audit (ts);
    CREATE INDEX audit_correlation ON audit (correlation_id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: where a request came from beyond its principal (hub.audit.EXTENSION_FIELDS)
    """
    ALTER TABLE audit ADD COLUMN context TEXT;
    """,
    # 3: dashboard sign-in sessions (hub.sessions); the cookie's secret is stored hashed
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL UNIQUE,
        principal_id TEXT NOT NULL,
        via TEXT NOT NULL,
        user_agent TEXT,
        created_at REAL NOT NULL,
        last_used_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE INDEX sessions_principal ON sessions (principal_id);
    """,
    # 4: the devices an action changes beyond its own (hub.audit.EXTENSION_FIELDS)
    """
    ALTER TABLE audit ADD COLUMN affected TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class StorageError(Exception):
    pass


class Storage:
    """One aiosqlite connection; writers take `transaction()` so batches never interleave."""

    def __init__(self, data_dir: Path, *, synchronous: str = "normal") -> None:
        self.path = data_dir / DB_FILE
        self.synchronous = synchronous.upper()
        self.db: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        new = not self.path.exists()
        self.db = await aiosqlite.connect(self.path, isolation_level=None)
        if new:
            os.chmod(self.path, 0o600)
        self.db.row_factory = aiosqlite.Row
        await self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a killed process (it is in the WAL file);
        # FULL also survives power loss at one fsync per group commit. See docs/security.md.
        await self.db.execute(f"PRAGMA synchronous={self.synchronous}")
        await self.db.execute("PRAGMA foreign_keys=ON")
        await self.db.execute("PRAGMA busy_timeout=5000")
        await self._migrate()

    async def _migrate(self) -> None:
        assert self.db is not None
        async with self.db.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path} has schema version {version}, newer than this hub "
                f"({SCHEMA_VERSION}); upgrade the hub")
        for number in range(version, SCHEMA_VERSION):
            async with self.transaction() as db:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        await db.execute(statement)
                await db.execute(f"PRAGMA user_version={number + 1}")

    @property
    def write_lock(self) -> asyncio.Lock:
        """Held for the whole of every write transaction on this database by this process.
        A writer with its own connection (the audit log) takes it too: otherwise its commit
        could wait on SQLite's lock, on the event loop, for a transaction that needs the
        loop to finish."""
        return self._write_lock

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        assert self.db is not None
        async with self._write_lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def fetchall(self, sql: str, params: tuple | list = ()) -> list[aiosqlite.Row]:
        # One call on the connection's thread: no statement, and so no read snapshot, stays
        # open across an await. Otherwise a transaction of another task could begin on this
        # connection on top of that snapshot after the audit log committed elsewhere, and
        # SQLite refuses that write at once (SQLITE_BUSY_SNAPSHOT, "database is locked").
        assert self.db is not None
        return list(await self.db.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: tuple | list = ()) -> aiosqlite.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def data_version(self) -> int:
        """Changes whenever another connection (another process: the CLI) commits."""
        row = await self.fetchone("PRAGMA data_version")
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None
