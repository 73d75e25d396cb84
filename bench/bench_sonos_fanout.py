"""Sonos fan-out benchmark: volume_set on 32 emulated speakers through one request, against
the same on one speaker, both through the hub's REST API (POST /actions).

The 32 speakers run in a separate emulator process (127.a.b.2 .. 127.a.b.33, port 1400, one
group); the hub runs in this process with the sonos plugin pointed at them by static host.
The fan-out request is the plugin's `group_volume_set`, which sends all 32 SetVolume requests
at once; a sequential loop would take about 32x the single-speaker time. Target: <= 2x.
It runs twice: with speakers that answer at once (loopback; measures the CPU cost per SoCo
request) and with 20 ms of emulated speaker latency (closer to real speakers on Wi-Fi).

    .venv/bin/python bench/bench_sonos_fanout.py [--speakers 32] [--rounds 40]

Loopback only; no multicast (discovery: false). Ends by printing `name: value` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer, unused_port
from hub_sonos.testing import free_loopback_block

from hub.app import Hub
from hub.config import load_config_data

READY_TIMEOUT = 30.0


def start_emulator(speakers: int, host: str,
                   latency: float) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub_sonos.testing.emulator", "--speakers", str(speakers),
         "--host", host, "--grouped", "--duration", "600", "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True)
    hosts: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("hosts:"):
            hosts = [h.strip() for h in line.split(":", 1)[1].split(",")]
        if line.strip() == "ready":
            return proc, hosts
    proc.kill()
    raise RuntimeError("the emulator did not start")


async def timed(client: TestClient, token: str, device: str, action: str,
                params: dict) -> float:
    started = time.perf_counter()
    async with client.post("/actions", headers={"Authorization": f"Bearer {token}"},
                           json={"device": device, "action": action, "params": params}) as r:
        body = await r.json()
        if r.status != 200:
            raise RuntimeError(f"{action}: {r.status} {body}")
    return time.perf_counter() - started


async def run(speakers: int, rounds: int, latency: float,
              events: bool = True) -> dict[str, float]:
    host = free_loopback_block(speakers)
    proc, hosts = start_emulator(speakers, host, latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = load_config_data(
                {"plugins": {"sonos": {"discovery": False, "hosts": [hosts[0]],
                                       "event_listener_port": unused_port(),
                                       "listen_addr": "127.0.0.1", "events": events}}},
                base_dir=Path(tmp), data_dir_default=Path(tmp) / "data")
            hub = Hub(config, only_plugins=["sonos"], env={})
            client = TestClient(TestServer(hub.web_app(), host="127.0.0.1"))
            await client.start_server()
            try:
                token = hub.owner_token
                status, devices = await _devices(client, token)
                assert status == 200 and len(devices) == speakers, (status, len(devices))
                leader = next(d for d in devices
                              if d["attributes"]["coordinator"] == d["id"])["id"]
                group = next(d for d in devices if d["id"] == leader)["attributes"]
                assert len(group["group_members"]) == speakers
                single, fan_out = [], []
                for i in range(rounds + 5):  # the first 5 rounds warm up
                    volume = 10 + i % 50
                    one = await timed(client, token, leader, "volume_set", {"volume": volume})
                    many = await timed(client, token, leader, "group_volume_set",
                                       {"volume": volume})
                    if i >= 5:
                        single.append(one)
                        fan_out.append(many)
            finally:
                await client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    med_one, med_many = statistics.median(single), statistics.median(fan_out)
    tag = f"latency_{round(latency * 1000)}ms" + ("" if events else "_no_events")
    return {
        f"{tag}_single_volume_set_median_ms": round(med_one * 1000, 2),
        f"{tag}_single_volume_set_p95_ms": round(_p95(single) * 1000, 2),
        f"{tag}_fanout_volume_set_median_ms": round(med_many * 1000, 2),
        f"{tag}_fanout_volume_set_p95_ms": round(_p95(fan_out) * 1000, 2),
        f"{tag}_fanout_to_single_ratio": round(med_many / med_one, 2),
        f"{tag}_sequential_estimate_ms": round(med_one * speakers * 1000, 1),
    }


async def _devices(client: TestClient, token: str) -> tuple[int, list[dict]]:
    async with client.get("/devices", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, (await r.json())["devices"]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speakers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--latency", type=float, action="append",
                        help="seconds each emulated speaker takes to answer; repeatable "
                             "(default: 0 and 0.02, a typical Sonos SOAP round trip)")
    parser.add_argument("--no-events", action="store_true",
                        help="poll instead of subscribing (no NOTIFY traffic during the run)")
    args = parser.parse_args()
    figures: dict[str, float] = {"speakers": args.speakers, "rounds": args.rounds,
                                 "cpu_count": os.cpu_count() or 0, "target_ratio": 2.0}
    for latency in args.latency or [0.0, 0.02]:
        figures.update(asyncio.run(run(args.speakers, args.rounds, latency,
                                       events=not args.no_events)))
    for name, value in figures.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
