"""Storage migrations, group-committed audit writes, and tokens revoked from another process."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from hub.clock import SystemClock
from hub.storage import SCHEMA_VERSION, Storage, StorageError
from hub.tokens import TokenStore, hash_token


async def test_migrations_apply_once_and_wal_is_on(tmp_path):
    storage = Storage(tmp_path)
    await storage.open()
    row = await storage.fetchone("PRAGMA journal_mode")
    assert row[0] == "wal"
    await storage.close()
    storage = Storage(tmp_path)
    await storage.open()  # re-opening applies nothing twice
    assert (await storage.fetchone("PRAGMA user_version"))[0] == SCHEMA_VERSION
    await storage.close()


async def test_refuses_a_database_from_a_newer_hub(tmp_path):
    storage = Storage(tmp_path)
    await storage.open()
    await storage.close()
    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    storage = Storage(tmp_path)
    with pytest.raises(StorageError, match="newer than this hub"):
        await storage.open()
    await storage.close()


async def test_concurrent_actions_share_audit_commits(hub_factory):
    harness = await hub_factory({"plugins": {"demo": {"players": 4}}}, only=["demo"])
    audit = harness.hub.audit
    before_batches, before_records = audit.batches, audit.records
    results = await asyncio.gather(*(
        harness.act(f"demo.player_{i % 4 + 1}", "volume_set", {"volume": i % 100})
        for i in range(200)))
    assert all(status == 200 for status, _ in results)
    records = audit.records - before_records
    batches = audit.batches - before_batches
    assert records == 400
    assert batches < records / 2, f"{batches} commits for {records} records: no grouping"
    assert (await audit.verify()).ok


async def test_tokens_are_stored_hashed(hub_factory):
    harness = await hub_factory({}, only=[])
    token = await harness.token("agent", maturity="INTERN")
    raw = b"".join(p.read_bytes() for p in harness.hub.data_dir.glob("hub.db*"))
    assert token.encode() not in raw
    assert hash_token(token).encode() in raw


async def test_revocation_from_another_process_reaches_the_running_hub(hub_factory):
    harness = await hub_factory({"plugins": {"demo": {"players": 1}}}, only=["demo"])
    agent = await harness.token("agent", maturity="SUPERVISED")
    status, _ = await harness.act("demo.player_1", "play", token=agent)
    assert status == 200
    # What `hub token revoke agent` does: its own connection to the same database.
    other = Storage(harness.hub.data_dir)
    await other.open()
    await TokenStore(other, SystemClock()).revoke("agent")
    await other.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5  # the hub checks for outside changes every second
    status = 200
    while status != 401 and loop.time() < deadline:
        await asyncio.sleep(0.1)
        status, _ = await harness.act("demo.player_1", "pause", token=agent)
    assert status == 401


async def test_audit_sync_full_commits_from_the_writer_thread(hub_factory):
    harness = await hub_factory({"hub": {"audit_sync": "full"},
                                 "plugins": {"demo": {"players": 2}}}, only=["demo"])
    audit = harness.hub.audit
    assert not audit._inline and audit._thread is not None
    results = await asyncio.gather(*(
        harness.act("demo.player_1", "volume_set", {"volume": i}) for i in range(50)))
    assert all(status == 200 for status, _ in results)
    with sqlite3.connect(harness.hub.data_dir / "hub.db") as db:
        assert db.execute("SELECT count(*) FROM audit").fetchone()[0] == 100
    assert (await audit.verify()).ok
