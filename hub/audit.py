"""The audit log: append-only, hash-chained, group-committed.

Every record holds the hash of the one before it, so `hub audit verify` finds an edited,
deleted or inserted row; the newest (seq, hash) is also kept in `meta` so that rows cut from
or added to the end are found too. Writers wait until their record is committed; concurrent
writers share one transaction (group commit), which keeps the pipeline fast while still never
dispatching an action before its decision record is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from hub.clock import Clock
from hub.storage import Storage

GENESIS = "0" * 64
MAX_BATCH = 1024
REDACTED = "***"
# Parameter names that are secrets whatever the plugin says.
_SECRET_NAME = re.compile(r"(token|secret|password|passwd|api[_-]?key|credential|auth|cookie)",
                          re.IGNORECASE)

FIELDS = ("ts", "correlation_id", "record", "principal", "principal_kind", "maturity", "source",
          "device", "action", "params", "decision", "reason", "required", "outcome", "error",
          "duration_ms")
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
    canonical = json.dumps([seq, *values, prev_hash], separators=(",", ":"), sort_keys=True,
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class VerifyResult:
    ok: bool
    records: int
    head: str
    problems: list[str] = field(default_factory=list)


class AuditLog:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock
        self._queue: asyncio.Queue[tuple[tuple, asyncio.Future]] = asyncio.Queue()
        self._seq = 0
        self._hash = GENESIS
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.records = 0

    async def start(self) -> None:
        row = await self._storage.fetchone("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        if row is not None:
            self._seq, self._hash = row["seq"], row["hash"]
        self._task = asyncio.create_task(self._writer(), name="audit-writer")

    async def stop(self) -> None:
        if self._task is None:
            return
        # Let queued records land before the connection closes.
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def write_nowait(self, **record: Any) -> asyncio.Future:
        """Queue a record; the future resolves to its seq once committed."""
        fut = asyncio.get_running_loop().create_future()
        if record.get("params") is not None and not isinstance(record["params"], str):
            record["params"] = json.dumps(record["params"], sort_keys=True, default=str)
        record.setdefault("ts", self._clock.time())
        values = tuple(record.get(name) for name in FIELDS)
        self._queue.put_nowait((values, fut))
        return fut

    async def write(self, **record: Any) -> int:
        """Append a record and wait until it is committed."""
        return await self.write_nowait(**record)

    async def _writer(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            seq, prev = self._seq, self._hash
            rows = []
            for values, _ in batch:
                seq += 1
                digest = record_hash(seq, values, prev)
                rows.append((seq, *values, prev, digest))
                prev = digest
            try:
                async with self._storage.transaction() as db:
                    await db.executemany(_INSERT, rows)
                    await db.execute(
                        "INSERT INTO meta (key, value) VALUES ('audit_head', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (f"{seq}:{prev}",))
            except Exception as err:  # the chain head does not move; writers see the error
                for _, fut in batch:
                    self._queue.task_done()
                    if not fut.done():
                        fut.set_exception(err)
                continue
            self._seq, self._hash = seq, prev
            for _ in batch:
                self._queue.task_done()
            self.batches += 1
            self.records += len(rows)
            for row, (_, fut) in zip(rows, batch, strict=True):
                if not fut.done():
                    fut.set_result(row[0])

    async def query(
        self,
        *,
        device: str | None = None,
        principal: str | None = None,
        since: float | None = None,
        correlation_id: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; page with `before=<seq of the last record seen>`."""
        where, args = [], []
        for column, value in (("device", device), ("principal", principal),
                              ("correlation_id", correlation_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if before is not None:
            where.append("seq < ?")
            args.append(before)
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
    if data.get("params"):
        try:
            data["params"] = json.loads(data["params"])
        except ValueError:
            pass
    return data
