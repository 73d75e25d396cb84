"""Audit retention keeps the chain verifiable from a checkpoint; the WAL is given back to the
disk (issue 8, item 8)."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3

from hub import audit as audit_module
from hub.cli import main as hub_cli
from hub.testing import ManualClock

DEMO = {"plugins": {"demo": {"players": 2}}}


async def _fill(harness, actions: int) -> None:
    for i in range(actions):
        status, _ = await harness.act("demo.player_1", "volume_set", {"volume": i % 100})
        assert status == 200


async def _pruned(harness, after: int = 0) -> int:
    """Retention runs in a thread once woken: wait (bounded) for the checkpoint to move past
    `after`; returns it."""
    for _ in range(500):
        row = await harness.hub.storage.fetchone(
            "SELECT value FROM meta WHERE key = 'audit_anchor'")
        anchor = int(row["value"].split(":")[0]) if row is not None else 0
        done = await harness.hub.storage.fetchone(
            "SELECT 1 FROM audit WHERE action = 'audit_prune' AND record = 'outcome' "
            "AND seq > ?", (anchor,))
        if anchor > after and done is not None:  # the delete and its outcome record
            return anchor
        await asyncio.sleep(0.01)
    raise AssertionError("retention did not run")


async def test_retention_prunes_and_verify_starts_from_the_checkpoint(hub_factory, capsys):
    clock = ManualClock()
    harness = await hub_factory(
        {**DEMO, "audit": {"retention": {"max_records": 100, "interval": 600}}},
        only=["demo"], clock=clock)
    await _fill(harness, 90)  # 180 records
    await clock.advance(601)
    await _pruned(harness)
    db = sqlite3.connect(harness.hub.storage.path)
    first, count = db.execute("SELECT min(seq), count(*) FROM audit").fetchone()
    assert first > 1 and count <= 103
    prune = db.execute("SELECT params FROM audit WHERE action = 'audit_prune' "
                       "AND record = 'decision'").fetchone()
    params = json.loads(prune[0])
    assert params["through_seq"] == first - 1 and params["records"] == first - 1
    result = await harness.hub.audit.verify()
    assert result.ok, result.problems
    assert result.start_seq == first - 1 and result.confirmed_by is not None

    # New records chain on; a later prune moves the checkpoint, still confirmed.
    await _fill(harness, 60)
    await clock.advance(601)
    await _pruned(harness, first - 1)
    result = await harness.hub.audit.verify()
    assert result.ok and result.start_seq > first - 1

    # Export before pruning: JSON lines, oldest first, with both hashes.
    await harness.hub.audit.stop()
    data = str(harness.hub.data_dir)
    assert await asyncio.to_thread(hub_cli, ["audit", "export", "--data-dir", data]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["prev_hash"] == result.start_hash
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(lines))
    assert await asyncio.to_thread(hub_cli, ["audit", "verify", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert f"records 1..{result.start_seq} were pruned" in out and "confirmed by" in out

    # Hiding more records by moving the checkpoint is detected.
    start = result.start_seq
    row = db.execute("SELECT seq, hash FROM audit WHERE seq = ?", (start + 10,)).fetchone()
    db.execute("DELETE FROM audit WHERE seq <= ?", (start + 10,))
    db.execute("UPDATE meta SET value = ? WHERE key = 'audit_anchor'", (f"{row[0]}:{row[1]}",))
    db.commit()
    db.close()
    assert await asyncio.to_thread(hub_cli, ["audit", "verify", "--data-dir", data]) == 1
    assert "not confirmed by any audit_prune record" in capsys.readouterr().out


async def test_retention_by_age(hub_factory):
    clock = ManualClock()
    harness = await hub_factory({**DEMO, "audit": {"retention": {"max_age": "1d"}}},
                                only=["demo"], clock=clock)
    await _fill(harness, 5)
    clock.set_wall_time(clock.time() + 2 * 86400)
    await _fill(harness, 2)
    await clock.advance(3601)
    await _pruned(harness)
    records = await harness.hub.audit.query(limit=100)
    assert {r["action"] for r in records} == {"volume_set", "audit_prune"}
    assert len([r for r in records if r["action"] == "volume_set"]) == 4
    assert (await harness.hub.audit.verify()).ok


async def test_the_wal_is_truncated_when_idle(hub_factory, monkeypatch):
    monkeypatch.setattr(audit_module, "CHECKPOINT_INTERVAL", 0.05)
    harness = await hub_factory(DEMO, only=["demo"])
    audit = harness.hub.audit
    before = audit.wal_truncations
    writes = asyncio.gather(*(harness.act("demo.player_2", "volume_set", {"volume": i})
                              for i in range(40)))
    await audit.truncate_wal()  # beside running writes: they wait, none fails
    assert {status for status, _ in await writes} == {200}
    for _ in range(400):  # bounded: the idle truncation follows within a few intervals
        if audit.wal_truncations >= before + 2 and audit.wal_bytes == 0:
            break
        await asyncio.sleep(0.01)
    assert audit.wal_bytes == 0 and audit.wal_truncations >= before + 2
    assert (await audit.verify()).ok
