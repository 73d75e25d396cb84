"""Kill -9 the hub while a client sends actions: every 2xx is in the audit log afterwards,
and the chain still verifies."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys

import aiohttp

WORKERS = 8
KILL_AFTER = 120  # successful actions before the kill
DEADLINE = 30.0


async def test_sigkill_loses_no_acknowledged_action(hub_process):
    hp = hub_process(players=4)
    await hp.start()
    acknowledged: list[str] = []
    headers = {"Authorization": f"Bearer {hp.owner_token}"}
    enough = asyncio.Event()

    async def client(n: int, session: aiohttp.ClientSession) -> None:
        for i in range(10_000):  # bounded; the kill ends it long before
            body = {"device": f"demo.player_{n % 4 + 1}", "action": "volume_set",
                    "params": {"volume": i % 101}}
            try:
                async with session.post(hp.url + "/actions", json=body,
                                        headers=headers) as resp:
                    if resp.status == 200:
                        acknowledged.append((await resp.json())["correlation_id"])
            except (TimeoutError, aiohttp.ClientError):
                return  # the hub is gone
            if len(acknowledged) >= KILL_AFTER:
                enough.set()

    async def killer() -> None:
        await asyncio.wait_for(enough.wait(), DEADLINE)
        hp.proc.send_signal(signal.SIGKILL)  # mid-flight: other requests are still running

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        await asyncio.gather(killer(), *(client(n, session) for n in range(WORKERS)))
    hp.stop()
    assert hp.proc.returncode == -signal.SIGKILL
    assert len(acknowledged) >= KILL_AFTER

    # Restart on the same data: the hub comes back, and every acknowledged action is there.
    await hp.start()
    with sqlite3.connect(hp.data / "hub.db") as db:
        recorded = set(db.execute("SELECT correlation_id, record, outcome FROM audit"))
    for cid in acknowledged:
        assert (cid, "decision", None) in recorded, cid
        assert (cid, "outcome", "ok") in recorded, cid
    hp.stop()
    verify = subprocess.run([sys.executable, "-m", "hub", "audit", "verify", "--data-dir",
                             str(hp.data)], capture_output=True, text=True, timeout=DEADLINE)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "chain intact" in verify.stdout
