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
import os
import re
import sqlite3
import time
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
# `affected`: JSON list of every device an action changes (its blast radius), set when that
# is more than `device` itself.
EXTENSION_FIELDS = ("context", "affected")
JSON_FIELDS = ("params", "context", "affected")
TEXT_LIMITS = {"reason": 1000, "error": 1000, "device": 256, "action": 128, "principal": 256}
# Parameters kept in a record, as encoded JSON. Bigger ones are replaced by their size, their
# SHA-256 and the start of their text, so a client cannot fill the disk through the log.
MAX_PARAMS_BYTES = 4096
PARAMS_HEAD_CHARS = 256
FIELDS = BASE_FIELDS + EXTENSION_FIELDS
_INSERT = (f"INSERT INTO audit (seq, {', '.join(FIELDS)}, prev_hash, hash) "
           f"VALUES ({', '.join('?' * (len(FIELDS) + 3))})")


def new_correlation_id() -> str:
    """32 hex digits: milliseconds since the epoch (12), then 80 random bits (20). Time first,
    so the audit's correlation index grows at its end: a batch of records touches one or two
    of its pages instead of one random page per record (less to write to the WAL per commit,
    and ids that sort by time)."""
    return f"{time.time_ns() // 1_000_000 & 0xFFFFFFFFFFFF:012x}{os.urandom(10).hex()}"


def redact(params: Any, secret_names: frozenset[str] = frozenset(), _depth: int = 0) -> Any:
    """A copy of `params` with secret-looking values replaced (recursively). Below 40
    levels (only an in-process caller can nest that deep) the rest is left out."""
    if _depth > 40:
        return "<nested too deep>"
    if isinstance(params, dict):
        return {
            k: REDACTED if (k in secret_names or _SECRET_NAME.search(str(k)))
            else redact(v, secret_names, _depth + 1)
            for k, v in params.items()
        }
    if isinstance(params, list):
        return [redact(v, secret_names, _depth + 1) for v in params]
    return params


def record_body(values: tuple) -> bytes:
    """The canonical JSON of a record's values (FIELDS order, extension columns up to the
    last non-null one), encoded once per record, before it joins a batch."""
    end = len(values)
    while end > len(BASE_FIELDS) and values[end - 1] is None:
        end -= 1
    return orjson.dumps(values[:end])


def chain_hash(seq: int, body: bytes, prev_hash: str) -> str:
    """SHA-256 of the JSON array [seq, *values, prev_hash]: `body` is the values' array, so
    this is byte for byte what encoding the whole array would give."""
    return hashlib.sha256(b"[%d,%s,\"%s\"]" % (seq, body[1:-1], prev_hash.encode())).hexdigest()


def record_hash(seq: int, values: tuple, prev_hash: str) -> str:
    """The chain hash of one record; `values` in FIELDS order."""
    return chain_hash(seq, record_body(values), prev_hash)


def _encode_json(value: Any, cap: int | None) -> str:
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError) as err:
        # Cannot be stored faithfully (not UTF-8, too deep, not JSON): say so instead.
        return orjson.dumps({"_unrecordable": str(err)[:200]}).decode()
    if cap is not None and len(text) > cap:
        return orjson.dumps({"_truncated": {
            "bytes": len(text), "sha256": hashlib.sha256(text).hexdigest(),
            "head": text[:PARAMS_HEAD_CHARS].decode("utf-8", "ignore")}}).decode()
    return text.decode()


def _text(value: Any, limit: int | None) -> Any:
    if value is None or isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        value = str(value)
    if limit is not None and len(value) > limit:
        value = value[:limit]
    if not value.isascii():
        # A lone surrogate would fail the record's encoding: keep it visible as an escape.
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def encode_record(record: dict[str, Any]) -> tuple[tuple, bytes]:
    """(values in FIELDS order, canonical body) for one record. Never raises for what a
    record holds: over-long text is cut, text that is not UTF-8 is escaped, parameters that
    are too big or cannot be encoded are replaced by a summary. So one record can never fail
    the batch it joins."""
    for name in JSON_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            record[name] = _encode_json(value, MAX_PARAMS_BYTES if name == "params" else None)
    values = tuple(map(record.get, FIELDS))
    if not _plain(values, record):
        values = tuple(_text(record.get(name), TEXT_LIMITS.get(name)) for name in FIELDS)
    return values, record_body(values)


_PLAIN_TYPES = frozenset({str, int, float, type(None)})


def _plain(values: tuple, record: dict[str, Any]) -> bool:
    """The common case, checked in a few C-level passes: numbers and ASCII text within the
    limits, to be stored as they are."""
    if not set(map(type, values)) <= _PLAIN_TYPES:
        return False
    for name, limit in TEXT_LIMITS.items():
        value = record.get(name)
        if value is not None and len(value) > limit:
            return False
    return "".join([v for v in values if type(v) is str]).isascii()


@dataclass
class VerifyResult:
    ok: bool
    records: int
    head: str
    problems: list[str] = field(default_factory=list)
    # Set when retention pruned the oldest records: the chain starts after record
    # `start_seq`, whose hash `start_hash` the record `confirmed_by` (an audit_prune) holds.
    start_seq: int = 0
    start_hash: str = GENESIS
    confirmed_by: int | None = None


ANCHOR_KEY = "audit_anchor"  # meta: "<seq>:<hash>" of the newest pruned record
PRUNE_ACTION = "audit_prune"


CHECKPOINT_INTERVAL = 2.0  # seconds between WAL checkpoints, off the commit path
# The WAL is truncated (checkpoint TRUNCATE) when the log has been idle for an interval, or
# at once when it grows past this size under load; SQLite also trims it to this size after
# each restart of the log (journal_size_limit).
WAL_TRUNCATE_BYTES = 64 * 1024 * 1024


class AuditLog:
    """The audit writer has its own SQLite connection and commits a whole batch (hashes,
    insert, head, commit) in one call.

    With `audit_sync: normal` (WAL, no fsync per commit) that call runs on the event loop: a
    commit is then an append to the WAL file, cheaper than handing the batch to a thread and
    back, and the pipeline waits for two of them per action. WAL checkpoints, which do fsync,
    are taken out of the commit path (`wal_autocheckpoint=0` here) and run every few seconds
    on the storage connection's own thread. With `audit_sync: full` every commit fsyncs, so
    the batch goes to a dedicated writer thread instead."""

    def __init__(self, storage: Storage, clock: Clock,
                 retention: dict[str, Any] | None = None) -> None:
        self._storage = storage
        self._retention_config = retention
        self._retention: asyncio.Task | None = None
        self.wal_truncations = 0
        self._clock = clock
        self._queue: asyncio.Queue[tuple[tuple, bytes, asyncio.Future]] = asyncio.Queue()
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
        self._conn.execute(f"PRAGMA journal_size_limit={WAL_TRUNCATE_BYTES}")
        self._task = asyncio.create_task(self._writer(), name="audit-writer")
        self._checkpoints = asyncio.create_task(self._checkpointer(), name="audit-checkpoint")
        if self._retention_config:
            from hub.retention import Retention

            self._retention = asyncio.create_task(
                Retention(self, self._clock, self._retention_config).run(),
                name="audit-retention")

    @property
    def wal_bytes(self) -> int:
        try:
            return os.path.getsize(f"{self._storage.path}-wal")
        except OSError:
            return 0

    async def _checkpointer(self) -> None:
        written = self.records
        truncated = True
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)  # housekeeping on real time, not hub time
            try:
                if self.records != written:
                    written = self.records
                    truncated = False
                    if self.wal_bytes > WAL_TRUNCATE_BYTES:
                        await self.truncate_wal()  # under load: a short pause of the writes
                        truncated = True
                    else:
                        await self._storage.fetchone("PRAGMA wal_checkpoint(PASSIVE)")
                elif not truncated:
                    await self.truncate_wal()  # idle: give the disk back
                    truncated = True
            except Exception:
                pass  # retried at the next interval; the WAL only grows meanwhile

    async def run_exclusive(self, fn: Any, *args: Any) -> Any:
        """Run `fn(conn, *args)` on the audit connection in a thread, between batches and
        never beside another write transaction (the storage's write lock, which every
        batch holds too)."""
        async with self._storage.write_lock:
            return await asyncio.get_running_loop().run_in_executor(
                self._thread, fn, self._conn, *args)

    async def truncate_wal(self) -> None:
        """Checkpoint everything and truncate the WAL file to zero bytes."""
        await self.run_exclusive(lambda conn: conn.execute(
            "PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
        self.wal_truncations += 1

    async def stop(self) -> None:
        if self._task is None:
            return
        # Let queued records land before the connection closes.
        await self._queue.join()
        for task in (self._task, self._checkpoints, self._retention):
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._conn is not None:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None

    def write_nowait(self, **record: Any) -> asyncio.Future:
        """Queue a record; the future resolves to its seq once committed."""
        fut = asyncio.get_running_loop().create_future()
        record.setdefault("ts", self._clock.time())
        values, body = encode_record(record)  # here, so a bad record fails nobody else
        self._queue.put_nowait((values, body, fut))
        return fut

    async def write(self, **record: Any) -> int:
        """Append a record and wait until it is committed."""
        return await self.write_nowait(**record)

    def _write_batch(self, batch: list[tuple[tuple, bytes]]) -> int:
        """Chain, insert and commit a batch; returns its first seq."""
        seq, prev = self._seq, self._hash
        first = seq + 1
        rows = []
        for values, body in batch:
            seq += 1
            digest = chain_hash(seq, body, prev)
            rows.append((seq, *values, prev, digest))
            prev = digest
        conn = self._conn
        assert conn is not None, "the audit log is not started"
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
            # One more loop turn before writing: the handlers woken in this turn queue their
            # records too, so a commit carries about twice as many (SQLite's cost per record
            # falls with the batch: ~57 us at 4, ~34 at 16, ~25 at 64), for one loop turn of
            # latency.
            await asyncio.sleep(0)
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            rows = [(values, body) for values, body, _ in batch]
            try:
                async with self._storage.write_lock:  # never beside an open transaction
                    if self._inline:
                        first = self._write_batch(rows)
                    else:
                        first = await loop.run_in_executor(self._thread, self._write_batch,
                                                           rows)
            except Exception as err:
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
            else:
                self.batches += 1
                self.records += len(batch)
                for offset, (*_, fut) in enumerate(batch):
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
        where: list[str] = []
        args: list[Any] = []
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
        confirmed_by = None
        anchor = await self._storage.fetchone("SELECT value FROM meta WHERE key = ?",
                                              (ANCHOR_KEY,))
        if anchor is not None:
            # Retention pruned records 1..N: start from the checkpoint, which must be
            # confirmed by an audit_prune record inside the chain (so it cannot be moved).
            seq_text, _, prev_hash = anchor["value"].partition(":")
            prev_seq = int(seq_text)
            row = await self._storage.fetchone(
                "SELECT seq FROM audit WHERE action = ? AND record = 'decision' AND seq > ? "
                "AND json_extract(params, '$.through_seq') = ? "
                "AND json_extract(params, '$.through_hash') = ? ORDER BY seq LIMIT 1",
                (PRUNE_ACTION, prev_seq, prev_seq, prev_hash))
            if row is None:
                problems.append(f"the retention checkpoint (records up to {prev_seq} pruned) "
                                "is not confirmed by any audit_prune record in the chain")
            else:
                confirmed_by = row["seq"]
        start_seq, start_hash = prev_seq, prev_hash
        last = prev_seq
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
        return VerifyResult(not problems, count, prev_hash, problems, start_seq, start_hash,
                            confirmed_by)

    async def export(self, *, since: float | None = None, chunk: int = 2000):
        """Every record (oldest first, from `since` epoch seconds), as stored: with
        `prev_hash` and `hash`, so an exported segment can be checked link by link."""
        last = 0
        while True:
            sql = "SELECT * FROM audit WHERE seq > ?"
            args: list[Any] = [last]
            if since is not None:
                sql += " AND ts >= ?"
                args.append(since)
            rows = await self._storage.fetchall(sql + " ORDER BY seq LIMIT ?", [*args, chunk])
            if not rows:
                return
            for row in rows:
                record = _as_dict(row)
                record["prev_hash"] = row["prev_hash"]
                yield record
            last = rows[-1]["seq"]


def _as_dict(row: Any) -> dict[str, Any]:
    data = {k: row[k] for k in row.keys() if k not in ("prev_hash",)}
    for name in JSON_FIELDS:
        if data.get(name):
            try:
                data[name] = json.loads(data[name])
            except ValueError:
                pass
    return data
