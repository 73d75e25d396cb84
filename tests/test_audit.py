"""The audit chain: verify finds an edited, a deleted and an inserted row."""

from __future__ import annotations

import asyncio
import sqlite3

from hub.audit import GENESIS, record_hash
from hub.cli import main as hub_cli

DEMO = {"plugins": {"demo": {"players": 2}}}


async def _filled(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    for volume in range(10, 60, 10):
        status, _ = await harness.act("demo.player_1", "volume_set", {"volume": volume})
        assert status == 200
    return harness


def _db(harness) -> sqlite3.Connection:
    return sqlite3.connect(harness.hub.data_dir / "hub.db")


async def test_intact_chain_verifies(hub_factory):
    harness = await _filled(hub_factory)
    result = await harness.hub.audit.verify()
    assert result.ok, result.problems
    assert result.records == 10  # a decision and an outcome per action


async def test_edited_row_is_detected(hub_factory):
    harness = await _filled(hub_factory)
    with _db(harness) as db:
        db.execute("UPDATE audit SET decision = 'allow', principal = 'mallory' WHERE seq = 3")
    result = await harness.hub.audit.verify()
    assert not result.ok
    assert any("record 3: content does not match its hash (edited)" in p
               for p in result.problems)


async def test_deleted_row_is_detected(hub_factory):
    harness = await _filled(hub_factory)
    with _db(harness) as db:
        db.execute("DELETE FROM audit WHERE seq = 4")
    result = await harness.hub.audit.verify()
    assert not result.ok
    assert any("record 5" in p and "deleted" in p for p in result.problems)


async def test_deleted_tail_is_detected(hub_factory):
    harness = await _filled(hub_factory)
    with _db(harness) as db:
        db.execute("DELETE FROM audit WHERE seq >= 9")
    result = await harness.hub.audit.verify()
    assert not result.ok
    assert any("recorded head" in p for p in result.problems)


async def test_inserted_row_is_detected(hub_factory):
    harness = await _filled(hub_factory)
    with _db(harness) as db:
        # Make room after record 4 and forge a record that links correctly to record 4:
        # the record after it no longer links, and verify says so.
        db.execute("UPDATE audit SET seq = seq + 1000 WHERE seq > 4")
        db.execute("UPDATE audit SET seq = seq - 999 WHERE seq > 1000")
        prev = db.execute("SELECT hash FROM audit WHERE seq = 4").fetchone()[0]
        values = (1.0, "forged", "decision", "mallory", "agent", "AUTONOMOUS", "rest",
                  "demo.player_1", "play", "{}", "allow", "forged", "SUPERVISED", None, None,
                  None)
        digest = record_hash(5, values, prev)
        db.execute(
            "INSERT INTO audit (seq, ts, correlation_id, record, principal, principal_kind, "
            "maturity, source, device, action, params, decision, reason, required, outcome, "
            "error, duration_ms, prev_hash, hash) VALUES (5, ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*values, prev, digest))
    result = await harness.hub.audit.verify()
    assert not result.ok
    assert any("record 6: does not link" in p for p in result.problems)


async def test_audit_records_carry_every_field_and_redact_secrets(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    status, _ = await harness.act("demo.player_1", "play_media",
                                  {"media_id": "demo:track:3", "enqueue": "add"})
    assert status == 200
    status, _ = await harness.act("demo.player_1", "volume_set",
                                     {"volume": 5, "api_token": "s3cr3t-value"})
    assert status == 400
    _, audit = await harness.get("/audit?limit=3")
    invalid, outcome, decision = audit["records"]
    assert invalid["decision"] == "invalid"
    assert invalid["params"] == {"volume": 5, "api_token": "***"}
    assert "s3cr3t-value" not in (harness.hub.data_dir / "hub.db").read_bytes().decode(
        "latin-1")
    assert decision["correlation_id"] == outcome["correlation_id"]
    for field in ("ts", "principal", "principal_kind", "device", "action", "params",
                  "decision", "reason", "required", "duration_ms", "hash"):
        assert decision[field] is not None, field
    assert outcome["outcome"] == "ok" and outcome["duration_ms"] >= 0


async def test_get_audit_filters_and_pages(hub_factory):
    harness = await _filled(hub_factory)
    status, _ = await harness.act("demo.player_2", "play")
    assert status == 200
    _, page1 = await harness.get("/audit?device=demo.player_1&limit=4")
    assert len(page1["records"]) == 4 and page1["next_before"]
    _, page2 = await harness.get(f"/audit?device=demo.player_1&limit=4"
                                 f"&before={page1['next_before']}")
    seqs = [r["seq"] for r in page1["records"] + page2["records"]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 8
    assert all(r["device"] == "demo.player_1" for r in page1["records"] + page2["records"])
    _, body = await harness.get("/audit?principal=owner&since=2000-01-01T00:00:00Z")
    assert body["records"]
    status, body = await harness.get("/audit?limit=abc")
    assert status == 400 and body["error"]["field"] == "limit"
    status, body = await harness.get("/audit?since=yesterday")
    assert status == 400


async def test_first_record_links_to_genesis(hub_factory):
    harness = await _filled(hub_factory)
    with _db(harness) as db:
        assert db.execute("SELECT prev_hash FROM audit WHERE seq = 1").fetchone()[0] == GENESIS


async def test_cli_verify_and_tail(hub_factory, capsys):
    harness = await _filled(hub_factory)
    await harness.hub.audit.stop()
    data = str(harness.hub.data_dir)
    # The CLI runs its own event loop: call it from a thread, as a terminal would.
    assert await asyncio.to_thread(hub_cli, ["audit", "verify", "--data-dir", data]) == 0
    assert "ok: 10 records" in capsys.readouterr().out
    assert await asyncio.to_thread(hub_cli, ["audit", "tail", "-n", "3", "--data-dir", data]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "volume_set" in lines[-1]
    with _db(harness) as db:
        db.execute("UPDATE audit SET action = 'play' WHERE seq = 2")
    assert await asyncio.to_thread(hub_cli, ["audit", "verify", "--data-dir", data]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED: record 2" in out and "FAILED" in out


async def test_context_is_recorded_hashed_and_older_records_still_verify(hub_factory):
    harness = await _filled(hub_factory)  # records written without a context
    result = await harness.hub.pipeline.execute(
        await _owner(harness), "demo.player_1", "pause",
        context={"automation": "evening", "run": "r1", "step": "action/0"})
    records = await harness.hub.audit.query(correlation_id=result["correlation_id"])
    assert [r["context"] for r in records] == [
        {"automation": "evening", "run": "r1", "step": "action/0"}] * 2
    assert (await harness.hub.audit.verify()).ok
    with _db(harness) as db:
        db.execute("UPDATE audit SET context = '{\"automation\": \"other\"}' "
                   "WHERE correlation_id = ?", (result["correlation_id"],))
    result = await harness.hub.audit.verify()
    assert not result.ok
    assert any("edited" in p for p in result.problems)


async def _owner(harness):
    return harness.hub.tokens.authenticate(harness.owner_token)


async def test_an_open_storage_transaction_does_not_stall_the_audit_writer(hub_factory):
    """The audit log commits on the event loop; a write transaction open on the storage
    connection (tokens, vault, sessions) at that moment used to block the loop on SQLite's
    busy timeout, then fail the audit write with "database is locked"."""
    harness = await hub_factory(DEMO, only=["demo"])
    audit, storage = harness.hub.audit, harness.hub.storage
    async with storage.transaction() as db:
        await db.execute("INSERT INTO meta (key, value) VALUES ('probe', '1')")
        pending = asyncio.ensure_future(audit.write(
            record="decision", correlation_id="probe", principal="test", action="probe",
            decision="allow"))
        await asyncio.sleep(0)  # the audit writer takes its batch now
        await db.execute("DELETE FROM meta WHERE key = 'probe'")
    assert await asyncio.wait_for(pending, 30) > 0
    assert (await audit.verify()).ok


async def test_reads_beside_audit_commits_never_fail_a_transaction(hub_factory):
    """A read used to leave its statement (and its snapshot) open across an await; a write
    transaction of another task that began on top of it after the audit log had committed was
    refused at once by SQLite (SQLITE_BUSY_SNAPSHOT, "database is locked"): a sign-in or a
    token change failed with 500 now and then. Reads, audit commits and transactions run
    interleaved here, a bounded number of times."""
    harness = await hub_factory(DEMO, only=["demo"])
    audit, storage = harness.hub.audit, harness.hub.storage

    async def reads():
        for _ in range(300):
            await storage.fetchone("PRAGMA data_version")
            await storage.fetchall("SELECT seq FROM audit ORDER BY seq DESC LIMIT 5")

    async def audits():
        for _ in range(300):
            await audit.write(record="decision", correlation_id="probe", principal="test",
                              action="probe", decision="allow")

    async def writes():
        for i in range(300):
            async with storage.transaction() as db:
                await db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)",
                                 (str(i),))

    await asyncio.gather(reads(), audits(), writes())
    assert (await audit.verify()).ok
