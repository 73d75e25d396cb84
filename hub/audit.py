"""The audit log: append-only, hash-chained, group-committed.

Every record holds the hash of the one before it, so `hub audit verify` finds an edited,
deleted or inserted row; the newest (seq, hash) is also kept in `meta` so that rows cut from
or added to the end are found too. Writers wait until their record is committed; concurrent
writers share one transaction (group commit), which keeps the pipeline fast while still never
dispatching an action before its decision record is durable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.clock import Clock
from hub.storage import Storage

GENESIS = "0" * 64
MAX_BATCH = 1024
REDACTED = "***"
# Parameter names that are secrets whatever the plugin says.
_SECRET_NAME = re.compile(r"(token|secret|password|passwd|api[_-]?key|credential|auth|cookie)",
                          re.IGNORECASE)

# The columns of the first schema, hashed as they are.
BASE_FIELDS = ("ts", "correlation_id", "record", "principal", "principal_kind", "maturity",
               "source", "device", "action", "params", "decision", "reason", "required",
               "outcome", "error", "duration_ms")
# Columns added since (append only). A record's hash covers them only up to its last non-null
# one, so every record written before a column existed still verifies unchanged.
# `context`: JSON object saying where a request came from beyond its principal (an
# automation's run and step, a client), set by the caller of the pipeline.
EXTENSION_FIELDS = ("context",)
JSON_FIELDS = ("params", "context")
FIELDS = BASE_FIELDS + EXTENSION_FIELDS
_INSERT = (f"INSERT INTO audit (seq, {', '.join(FIELDS)}, prev_hash, hash) "
           f"VALUES ({', '.join('?' * (len(FIELDS) + 3))})")


def redact(params: Any, secret_names: frozenset[str] = frozenset()) -> Any:
    """A copy of `params` with secret-looking values replaced (recursively)."""
    if isinstance(params, dict):
        return {
            k: REDACTED if (k in secret_names or _SECRET_NAME.search(str(k)))
            else redact(v, secret_names)
            for k, v in params.items()
        }
    if isinstance(params, list):
        return [redact(v, secret_names) for v in params]
    return params


def record_hash(seq: int, values: tuple, prev_hash: str) -> str:
    """The chain hash of one record; `values` in FIELDS order."""
    end = len(values)
    while end > len(BASE_FIELDS) and values[end - 1] is None:
        end -= 1
    return hashlib.sha256(orjson.dumps([seq, *values[:end], prev_hash], default=str)).hexdigest()


@dataclass
class VerifyResult:
    ok: bool
    records: int
    head: str
    problems: list[str] = field(default_factory=list)


CHECKPOINT_INTERVAL = 2.0  # seconds between WAL checkpoints, off the commit path


class AuditLog:
    """The audit writer has its own SQLite connection and commits a whole batch (hashes,
    insert, head, commit) in one call.

    With `audit_sync: normal` (WAL, no fsync per commit) that call runs on the event loop: a
    commit is then an append to the WAL file, cheaper than handing the batch to a thread and
    back, and the pipeline waits for two of them per action. WAL checkpoints, which do fsync,
    are taken out of the commit path (`wal_autocheckpoint=0` here) and run every few seconds
    on the storage connection's own thread. With `audit_sync: full` every commit fsyncs, so
    the batch goes to a dedicated writer thread instead."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock
        self._queue: asyncio.Queue[tuple[tuple, asyncio.Future]] = asyncio.Queue()
        self._seq = 0  # owned by the writer thread once started
        self._hash = GENESIS
        self._task: asyncio.Task | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._checkpoints: asyncio.Task | None = None
        self._inline = True
        self._conn: sqlite3.Connection | None = None
        self.batches = 0
        self.records = 0

    async def start(self) -> None:
        row = await self._storage.fetchone("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        if row is not None:
            self._seq, self._hash = row["seq"], row["hash"]
        self._inline = self._storage.synchronous != "FULL"
        if not self._inline:
            self._thread = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="hub-audit")
        self._conn = sqlite3.connect(self._storage.path, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute(f"PRAGMA synchronous={self._storage.synchronous}")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._task = asyncio.create_task(self._writer(), name="audit-writer")
        self._checkpoints = asyncio.create_task(self._checkpointer(), name="audit-checkpoint")

    async def _checkpointer(self) -> None:
        written = self.records
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)  # housekeeping on real time, not hub time
            if self.records != written:
                written = self.records
                try:
                    await self._storage.fetchone("PRAGMA wal_checkpoint(PASSIVE)")
                except Exception:
                    pass  # retried at the next interval; the WAL only grows meanwhile

    async def stop(self) -> None:
        if self._task is None:
            return
        # Let queued records land before the connection closes.
        await self._queue.join()
        for task in (self._task, self._checkpoints):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._conn is not None:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._conn.close()
            self._conn = None

    def write_nowait(self, **record: Any) -> asyncio.Future:
        """Queue a record; the future resolves to its seq once committed."""
        fut = asyncio.get_running_loop().create_future()
        for name in JSON_FIELDS:
            if record.get(name) is not None and not isinstance(record[name], str):
                record[name] = orjson.dumps(record[name], default=str,
                                            option=orjson.OPT_SORT_KEYS).decode()
        record.setdefault("ts", self._clock.time())
        values = tuple(record.get(name) for name in FIELDS)
        self._queue.put_nowait((values, fut))
        return fut

    async def write(self, **record: Any) -> int:
        """Append a record and wait until it is committed."""
        return await self.write_nowait(**record)

    def _write_batch(self, batch: list[tuple]) -> int:
        """Chain, insert and commit a batch; returns its first seq."""
        seq, prev = self._seq, self._hash
        first = seq + 1
        rows = []
        for values in batch:
            seq += 1
            digest = record_hash(seq, values, prev)
            rows.append((seq, *values, prev, digest))
            prev = digest
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT, rows)
            conn.execute("INSERT INTO meta (key, value) VALUES ('audit_head', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         (f"{seq}:{prev}",))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise  # the chain head does not move
        self._seq, self._hash = seq, prev
        return first

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            rows = [values for values, _ in batch]
            try:
                async with self._storage.write_lock:  # never beside an open transaction
                    if self._inline:
                        first = self._write_batch(rows)
                    else:
                        first = await loop.run_in_executor(self._thread, self._write_batch,
                                                           rows)
            except Exception as err:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
            else:
                self.batches += 1
                self.records += len(batch)
                for offset, (_, fut) in enumerate(batch):
                    if not fut.done():
                        fut.set_result(first + offset)
            for _ in batch:
                self._queue.task_done()

    async def query(
        self,
        *,
        device: str | None = None,
        principal: str | None = None,
        since: float | None = None,
        until: float | None = None,
        correlation_id: str | None = None,
        decision: str | None = None,
        outcome: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; page with `before=<seq of the last record seen>`, follow new records
        with `after=<newest seq seen>`."""
        where, args = [], []
        for column, value in (("device", device), ("principal", principal),
                              ("correlation_id", correlation_id), ("decision", decision),
                              ("outcome", outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        for condition, value in (("ts >= ?", since), ("ts < ?", until), ("seq < ?", before),
                                 ("seq > ?", after)):
            if value is not None:
                where.append(condition)
                args.append(value)
        sql = "SELECT * FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        rows = await self._storage.fetchall(sql, [*args, limit])
        return [_as_dict(r) for r in rows]

    async def verify(self, chunk: int = 5000) -> VerifyResult:
        problems: list[str] = []
        prev_hash, prev_seq, count = GENESIS, 0, 0
        last = 0
        while True:
            rows = await self._storage.fetchall(
                f"SELECT seq, {', '.join(FIELDS)}, prev_hash, hash FROM audit "
                "WHERE seq > ? ORDER BY seq LIMIT ?", (last, chunk))
            if not rows:
                break
            for row in rows:
                seq = row["seq"]
                values = tuple(row[name] for name in FIELDS)
                if seq != prev_seq + 1:
                    problems.append(f"record {seq}: records {prev_seq + 1}..{seq - 1} are "
                                    "missing (deleted)")
                if row["prev_hash"] != prev_hash:
                    problems.append(f"record {seq}: does not link to the record before it "
                                    "(a record was deleted or inserted before it)")
                if record_hash(seq, values, row["prev_hash"]) != row["hash"]:
                    problems.append(f"record {seq}: content does not match its hash (edited)")
                prev_hash, prev_seq = row["hash"], seq
                count += 1
            last = rows[-1]["seq"]
        head = await self._storage.fetchone("SELECT value FROM meta WHERE key = 'audit_head'")
        if head is not None:
            head_seq, _, head_hash = head["value"].partition(":")
            if int(head_seq) != prev_seq or head_hash != prev_hash:
                problems.append(
                    f"the chain ends at record {prev_seq} but the recorded head is record "
                    f"{head_seq} (records removed from or added to the end)")
        elif count:
            problems.append("records exist but no head was recorded")
        return VerifyResult(not problems, count, prev_hash, problems)


def _as_dict(row: Any) -> dict[str, Any]:
    data = {k: row[k] for k in row.keys() if k not in ("prev_hash",)}
    for name in JSON_FIELDS:
        if data.get(name):
            try:
                data[name] = json.loads(data[name])
            except ValueError:
                pass
    return data
