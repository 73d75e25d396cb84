"""Audit retention: prune the oldest records and keep the chain verifiable.

    audit:
      retention:
        max_age: 90d          # records older than this go
        max_records: 1000000  # and/or only the newest this many stay
        interval: 1h          # how often to look (default 1 h; also once at start)

A prune of records 1..N is itself recorded first, in the chain: an `audit_prune` decision
record whose params hold `through_seq` N and `through_hash` (the hash of record N), the
count and the time span. Then, in one transaction, records 1..N are deleted and the
checkpoint `N:<hash>` is written to `meta`. `hub audit verify` starts from the checkpoint
and accepts it only if an `audit_prune` record inside the remaining chain vouches for it:
moving the checkpoint to hide more deleted records breaks either the chain or that match.
Export what you want to keep first: `hub audit export --since ... > file.jsonl`.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from hub.admin import AdminRequest
from hub.audit import ANCHOR_KEY, PRUNE_ACTION, AuditLog
from hub.clock import Clock
from hub.governance import Decision
from hub.maturity import Level

log = logging.getLogger(__name__)

_SYSTEM = {"principal": "hub", "principal_kind": None, "maturity": None}


@dataclass
class Pruned:
    through_seq: int
    through_hash: str
    records: int


class Retention:
    def __init__(self, audit: AuditLog, clock: Clock, config: dict[str, Any]) -> None:
        self._audit = audit
        self._clock = clock
        self.max_age: float | None = config.get("max_age")
        self.max_records: int | None = config.get("max_records")
        self.interval: float = config.get("interval", 3600.0)

    async def run(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                log.warning("audit retention failed; retrying in %g s", self.interval,
                            exc_info=True)
            await self._clock.sleep(self.interval)

    async def prune(self) -> Pruned | None:
        """Prune what the policy says is too old or too many; None when nothing is."""
        cut = await self._audit.run_exclusive(self._cut)
        if cut is None:
            return None
        seq, digest, count, first_ts, last_ts = cut
        why = []
        if self.max_age is not None:
            why.append(f"max_age {self.max_age:g} s")
        if self.max_records is not None:
            why.append(f"max_records {self.max_records}")
        decision = Decision(True, Level.OWNER, f"audit.retention ({', '.join(why)})")
        params = {"through_seq": seq, "through_hash": digest, "records": count,
                  "from_ts": first_ts, "to_ts": last_ts}
        async with AdminRequest(self._audit, decision, None, what=PRUNE_ACTION,
                                source="retention", params=params, principal_fields=_SYSTEM):
            # The prune record is committed (and so chained) before anything is deleted.
            await self._audit.run_exclusive(_delete, seq, digest)
        log.info("audit retention pruned %d records (through record %d)", count, seq)
        return Pruned(seq, digest, count)

    def _cut(self, conn: sqlite3.Connection) -> tuple | None:
        """(seq, hash, count, first ts, last ts) of the newest record to prune, or None."""
        bounds = []
        if self.max_age is not None:
            row = conn.execute("SELECT max(seq) FROM audit WHERE ts < ?",
                               (self._clock.time() - self.max_age,)).fetchone()
            if row[0] is not None:
                bounds.append(row[0])
        if self.max_records is not None:
            row = conn.execute("SELECT max(seq) FROM audit").fetchone()
            if row[0] is not None and row[0] - self.max_records > 0:
                bounds.append(row[0] - self.max_records)
        if not bounds:
            return None
        seq = max(bounds)
        newest = conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
        seq = min(seq, newest - 1)  # the head always stays: the chain goes on from it
        row = conn.execute(
            "SELECT (SELECT hash FROM audit WHERE seq = ?), count(*), min(ts), max(ts) "
            "FROM audit WHERE seq <= ?", (seq, seq)).fetchone()
        if not row[1] or row[0] is None:
            return None
        return seq, row[0], row[1], row[2], row[3]


def _delete(conn: sqlite3.Connection, seq: int, digest: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM audit WHERE seq <= ?", (seq,))
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                     "DO UPDATE SET value = excluded.value", (ANCHOR_KEY, f"{seq}:{digest}"))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
