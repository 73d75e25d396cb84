#!/usr/bin/env python3
"""Core benchmark: the hub's REST actions and device reads against a bare aiohttp app.

    .venv/bin/python bench/bench_core.py            # defaults: about 1.5 minutes
    .venv/bin/python bench/bench_core.py --help

What it does (not run by CI):

* starts the real hub as a subprocess (`hub run -c <temp config> --port <free port>`) with the
  demo plugin, its data directory in a temp dir and the real durable audit (SQLite, WAL,
  group commit); the owner token is read from <data_dir>/owner.token;
* starts a bare aiohttp app in another subprocess (this file with `--serve-bare`): a JSON POST
  endpoint that parses the body and answers a JSON object the size of the hub's action answer,
  and a JSON GET endpoint that answers a device-sized object;
* an external load generator, wrk (`wrk -t1 -c32`, installed by `make bench`), measures
  throughput alternately, hub / bare / hub / bare over several rounds, so drift (thermal,
  noisy neighbours, the audit database growing) hits both sides alike; these give
  `actions_vs_bare` and `device_read_vs_bare`;
* the aiohttp client of this process (fixed concurrency, keep-alive, traffic to 127.0.0.1
  only, every loop bounded in count and time) measures the same pairs too (`pyclient_*`: a
  Python client saturates before a bare aiohttp server does, so its ratios read higher) and
  the open-loop latency:
    - throughput of POST /actions (owner token, volume_set with varying volume on the demo
      players) vs the bare POST;
    - throughput of GET /devices/{id} vs the bare GET;
    - latency of POST /actions at a fixed offered rate (open loop: requests are sent at fixed
      intervals whatever the responses do; sends more than 1 ms behind schedule are counted).
* ends with one `name: value` line per figure.

The client shares the machine's cores with both servers (on a 2-core box the client, the
hub's event loop and its SQLite thread compete for the same 2 cores). The `*_server_cpu`
lines tell how busy the server process was during each measurement: a bare server well below
1.0 means the client, not the server, was the limit. `--pin` puts the servers on the last CPU
and the client on the others with taskset (when there are at least 2 CPUs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from aiohttp.test_utils import unused_port

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 10.0
LATE_MS = 1.0  # an open-loop send more than this behind schedule counts as late
MAX_REQUESTS_PER_PHASE = 2_000_000  # a hard bound on every closed loop

TARGETS = {"actions_vs_bare": 0.5, "device_read_vs_bare": 0.85, "actions_p99_ms": 5.0}
WRK_THREADS, WRK_CONNECTIONS = 1, 32


# -- the bare aiohttp app (runs in its own process) ------------------------------------------


def _device_like(volume: int) -> dict:
    """An object shaped and sized like a demo player's snapshot (about 770 bytes of JSON)."""
    return {
        "id": "bare.player_1", "name": "Living Room", "plugin": "bare", "state": "idle",
        "available": True,
        "attributes": {
            "volume": volume, "muted": False, "media_title": "Morning Light",
            "media_artist": "The Lanterns", "media_album": "Early Hours",
            "media_content_id": "demo:track:1", "media_duration": 214, "media_position": 0.0,
            "media_position_updated_at": time.time(), "source": "Playlist",
            "source_list": ["Playlist", "Radio", "Line-in"], "shuffle": False, "repeat": "off",
            "queue_length": 7, "group_members": ["bare.player_1"],
            "group_leader": "bare.player_1",
        },
        "actions": ["join", "mute", "next", "pause", "play", "play_media", "previous",
                    "repeat_set", "seek", "select_source", "shuffle_set", "stop", "unjoin",
                    "volume_get", "volume_set", "volume_step"],
        "info": {"manufacturer": "Hub", "model": "Demo Player", "sw_version": "0.1.0"},
        "updated_at": time.time(),
    }


def serve_bare(port: int) -> None:
    from aiohttp import web

    def dumps(data: object) -> str:
        return json.dumps(data, separators=(",", ":"), default=str)

    device = _device_like(30)

    async def post(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        volume = body.get("params", {}).get("volume", 0)
        device["attributes"]["volume"] = volume
        return web.json_response({
            "correlation_id": uuid.uuid4().hex, "device": body.get("device"),
            "action": body.get("action"), "dry_run": False, "result": None, "state": device,
        }, dumps=dumps)

    async def get(request: web.Request) -> web.Response:
        return web.json_response(device, dumps=dumps)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/bare/post", post)
    app.router.add_get("/bare/get/{device_id}", get)
    app.router.add_get("/health", health)
    web.run_app(app, host=HOST, port=port, access_log=None, print=None)


# -- processes -----------------------------------------------------------------------------------


def hub_command() -> list[str]:
    exe = Path(sys.executable).parent / "hub"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("hub")
    return [found] if found else [sys.executable, "-m", "hub"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, name: str, argv: list[str], port: int, log: Path, cwd: Path) -> None:
        self.name, self.port, self.log_path = name, port, log
        self.url = f"http://{HOST}:{port}"
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            # SIGINT to the process group (its own session): the hub and the bare app stop
            # cleanly on it, and a profiler wrapped around the hub writes its output.
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def read_token(path: Path) -> str:
    return path.read_text().strip()


# -- load generation -----------------------------------------------------------------------------


class Target:
    """One thing to measure: how to build the i-th request."""

    def __init__(self, name: str, method: str, url: str, headers: dict[str, str],
                 body_for=None) -> None:
        self.name, self.method, self.url, self.headers = name, method, url, headers
        self.body_for = body_for  # i -> bytes, or None for GET

    def url_for(self, i: int) -> str:
        return self.url(i) if callable(self.url) else self.url

    async def send(self, session: aiohttp.ClientSession, i: int) -> tuple[int, int]:
        data = self.body_for(i) if self.body_for else None
        async with session.request(self.method, self.url_for(i), data=data,
                                   headers=self.headers) as resp:
            body = await resp.read()
            return resp.status, len(body)


class Result:
    def __init__(self) -> None:
        self.ok = 0
        self.bad = 0
        self.errors = 0
        self.statuses: dict[int, int] = {}
        self.size = 0


async def closed_loop(session: aiohttp.ClientSession, target: Target, *, concurrency: int,
                      seconds: float, server_pid: int) -> tuple[float, float, Result]:
    """Each of `concurrency` workers sends one request after the other for `seconds`.
    Returns (requests/s, server CPU share, result)."""
    res = Result()
    counter = iter(range(MAX_REQUESTS_PER_PHASE))

    async def worker(deadline: float) -> None:
        for i in counter:
            if time.perf_counter() >= deadline:
                return
            try:
                status, size = await target.send(session, i)
            except (aiohttp.ClientError, TimeoutError):
                res.errors += 1
                continue
            if 200 <= status < 300:
                res.ok += 1
                res.size = size
            else:
                res.bad += 1
                res.statuses[status] = res.statuses.get(status, 0) + 1

    cpu0, t0 = cpu_seconds(server_pid), time.perf_counter()
    deadline = t0 + seconds
    await asyncio.wait_for(asyncio.gather(*(worker(deadline) for _ in range(concurrency))),
                           timeout=seconds + REQUEST_TIMEOUT + 5)
    elapsed = time.perf_counter() - t0
    cpu = (cpu_seconds(server_pid) - cpu0) / elapsed
    return res.ok / elapsed, cpu, res


async def open_loop(session: aiohttp.ClientSession, target: Target, *, rate: float,
                    seconds: float, max_inflight: int = 2000) -> dict[str, float]:
    """Send at fixed intervals (1/rate) whatever the responses do; a send that cannot keep to
    its slot is counted late (and dropped if more than `max_inflight` are outstanding)."""
    total = int(rate * seconds)
    interval = 1.0 / rate
    from_send: list[float] = []
    from_slot: list[float] = []
    res = Result()
    late = dropped = 0
    tasks: set[asyncio.Task] = set()

    async def one(i: int, slot: float) -> None:
        sent = time.perf_counter()
        try:
            status, _ = await target.send(session, i)
        except (aiohttp.ClientError, TimeoutError):
            res.errors += 1
            return
        done = time.perf_counter()
        if 200 <= status < 300:
            res.ok += 1
            from_send.append((done - sent) * 1000)
            from_slot.append((done - slot) * 1000)
        else:
            res.bad += 1
            res.statuses[status] = res.statuses.get(status, 0) + 1

    start = time.perf_counter() + 0.05
    hard_stop = start + seconds * 2 + 5
    for i in range(total):
        slot = start + i * interval
        now = time.perf_counter()
        if now > hard_stop:
            dropped += total - i
            break
        if slot > now:
            await asyncio.sleep(slot - now)
        elif (now - slot) * 1000 > LATE_MS:
            late += 1
        if len(tasks) >= max_inflight:
            dropped += 1
            continue
        task = asyncio.create_task(one(i, slot))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
    for task in tasks:
        task.cancel()
    achieved = res.ok / max(1e-9, time.perf_counter() - start)
    return {
        "p50": percentile(from_send, 50), "p90": percentile(from_send, 90),
        "p99": percentile(from_send, 99), "max": max(from_send, default=float("nan")),
        "p99_from_schedule": percentile(from_slot, 99), "sent": total - dropped,
        "late": late, "dropped": dropped, "non2xx": res.bad, "errors": res.errors,
        "achieved_rps": achieved,
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


async def wait_ready(session: aiohttp.ClientSession, server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited during startup:\n{server.tail()}")
        try:
            async with session.get(server.url + "/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer /health within {STARTUP_TIMEOUT:g} s:\n"
                       f"{server.tail()}")


# -- wrk: the external load generator ---------------------------------------------------------

_WRK_POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(auth)s
local players = {%(players)s}
local i = 0
request = function()
  i = i + 1
  local body = '{"device":"' .. players[i %% #players + 1] .. '","action":"volume_set",' ..
               '"params":{"volume":' .. (i %% 101) .. '}}'
  return wrk.format(nil, "%(path)s", nil, body)
end
"""

_WRK_GET = """
%(auth)s
local players = {%(players)s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "%(prefix)s" .. players[i %% #players + 1])
end
"""

_WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("HUBBENCH %d %d %d %d %f\\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.duration,
    latency:percentile(99) / 1000))
end
"""


def wrk_script(tmp: Path, name: str, template: str, **values: str) -> Path:
    path = tmp / f"{name}.lua"
    path.write_text(template % values + _WRK_DONE)
    return path


def wrk(url: str, script: Path, seconds: float, server_pid: int) -> dict[str, float]:
    """One wrk run (-t1 -c32); requests/s, non-2xx, socket errors, p99 and server CPU."""
    cpu0 = cpu_seconds(server_pid)
    out = subprocess.run(
        ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s",
         f"--timeout={REQUEST_TIMEOUT:g}s", "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT + 30)
    line = next((x for x in out.stdout.splitlines() if x.startswith("HUBBENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    requests, non2xx, errors, duration_us, p99_ms = line.split()[1:]
    elapsed = int(duration_us) / 1e6
    cpu = (cpu_seconds(server_pid) - cpu0) / elapsed
    rps = int(requests) / elapsed
    return {"rps": rps, "non2xx": int(non2xx), "errors": int(errors), "p99_ms": float(p99_ms),
            "cpu": cpu, "cpu_us_per_req": cpu / rps * 1e6 if rps else 0.0}


async def wrk_rounds(args: argparse.Namespace, hub: Server, bare: Server, token: str,
                     tmp: Path) -> dict[str, list[dict[str, float]]]:
    players = ", ".join(f'"demo.player_{i + 1}"' for i in range(args.players))
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"'
    scripts = {
        "actions": (hub.url, wrk_script(tmp, "actions", _WRK_POST, auth=auth, players=players,
                                        path="/actions"), hub.proc.pid),
        "bare_post": (bare.url, wrk_script(tmp, "bare_post", _WRK_POST, auth="",
                                           players=players, path="/bare/post"), bare.proc.pid),
        "device_read": (hub.url, wrk_script(tmp, "device_read", _WRK_GET, auth=auth,
                                            players=players, prefix="/devices/"),
                        hub.proc.pid),
        "bare_get": (bare.url, wrk_script(tmp, "bare_get", _WRK_GET, auth="", players=players,
                                          prefix="/bare/get/"), bare.proc.pid),
    }
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in scripts}
    for url, script, pid in scripts.values():  # warm-up
        await asyncio.to_thread(wrk, url, script, max(1.0, args.warmup), pid)
    for rnd in range(args.rounds):
        for pair in (("actions", "bare_post"), ("device_read", "bare_get")):
            for name in (pair if rnd % 2 == 0 else pair[::-1]):
                url, script, pid = scripts[name]
                result = await asyncio.to_thread(wrk, url, script, args.seconds, pid)
                runs[name].append(result)
                print(f"# wrk round {rnd + 1} {name}: {result['rps']:.0f} req/s, p99 "
                      f"{result['p99_ms']:.1f} ms (server CPU {result['cpu']:.2f}, "
                      f"{result['cpu_us_per_req']:.0f} us/req)", file=sys.stderr, flush=True)
    return runs


# -- the run -------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, hub: Server, bare: Server, data_dir: Path) -> int:
    conn = aiohttp.TCPConnector(limit=max(args.concurrency, 64), limit_per_host=0,
                                keepalive_timeout=60, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout,
                                     skip_auto_headers=("User-Agent",)) as session:
        await wait_ready(session, hub)
        await wait_ready(session, bare)
        token = await asyncio.to_thread(read_token, data_dir / "owner.token")
        auth = {"Authorization": f"Bearer {token}"}
        players = [f"demo.player_{i + 1}" for i in range(args.players)]
        json_headers = {**auth, "Content-Type": "application/json"}

        def action_body(i: int) -> bytes:
            return json.dumps({"device": players[i % len(players)], "action": "volume_set",
                               "params": {"volume": i % 101}}).encode()

        def bare_body(i: int) -> bytes:
            return json.dumps({"device": "bare.player_1", "action": "volume_set",
                               "params": {"volume": i % 101}}).encode()

        targets = {
            "actions": Target("actions", "POST", hub.url + "/actions", json_headers,
                              action_body),
            "bare_post": Target("bare_post", "POST", bare.url + "/bare/post",
                                {"Content-Type": "application/json"}, bare_body),
            "device_read": Target(
                "device_read", "GET", lambda i: f"{hub.url}/devices/{players[i % len(players)]}",
                auth),
            "bare_get": Target("bare_get", "GET",
                               lambda i: f"{bare.url}/bare/get/p{i % len(players)}", {}),
        }
        pids = {"actions": hub.proc.pid, "device_read": hub.proc.pid,
                "bare_post": bare.proc.pid, "bare_get": bare.proc.pid}

        wrk_runs = await wrk_rounds(args, hub, bare, token, data_dir.parent)

        # Warm up both servers and open the keep-alive connections.
        for name, target in targets.items():
            await closed_loop(session, target, concurrency=args.concurrency,
                              seconds=args.warmup, server_pid=pids[name])

        rps: dict[str, list[float]] = {k: [] for k in targets}
        cpu: dict[str, list[float]] = {k: [] for k in targets}
        non2xx: dict[str, int] = dict.fromkeys(targets, 0)
        errors: dict[str, int] = dict.fromkeys(targets, 0)
        sizes: dict[str, int] = {}
        order = [("actions", "bare_post"), ("device_read", "bare_get")]
        for rnd in range(args.rounds):
            for pair in order:
                # Alternate which side goes first, so neither always runs on a warmer box.
                for name in (pair if rnd % 2 == 0 else pair[::-1]):
                    value, share, res = await closed_loop(
                        session, targets[name], concurrency=args.concurrency,
                        seconds=args.seconds, server_pid=pids[name])
                    rps[name].append(value)
                    cpu[name].append(share)
                    non2xx[name] += res.bad
                    errors[name] += res.errors
                    sizes[name] = res.size
                    if res.statuses:
                        print(f"# {name}: non-2xx statuses {res.statuses}", file=sys.stderr)
                    print(f"# round {rnd + 1} {name}: {value:.0f} req/s "
                          f"(server CPU {share:.2f})", file=sys.stderr, flush=True)

        print(f"# open loop: POST /actions at {args.rate:g} req/s for {args.latency_seconds:g} s",
              file=sys.stderr, flush=True)
        lat = await open_loop(session, targets["actions"], rate=args.rate,
                              seconds=args.latency_seconds)
        bare_lat = None
        if not args.skip_bare_latency:
            bare_lat = await open_loop(session, targets["bare_post"], rate=args.rate,
                                       seconds=args.latency_seconds)

    r = int(args.rate) if float(args.rate).is_integer() else args.rate
    out: list[tuple[str, object]] = [
        ("machine", f"{os.cpu_count()} CPUs, {platform.machine()}, "
                    f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}"),
        ("client", f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} for throughput; the aiohttp client "
                   "of the bench process (pyclient_*) and the open-loop latency, sharing the "
                   "CPUs with both servers"
                   + (f" (pinned: servers on CPU {args.server_cpus}, clients on "
                      f"{args.client_cpus})" if args.pin else " (not pinned)")),
        ("method", f"{args.rounds} rounds x {args.seconds:g} s per measurement, alternating "
                   f"hub/bare, concurrency {args.concurrency}, keep-alive; medians"),
        ("load_average_1m", round(os.getloadavg()[0], 2)),
    ]
    wrk_rps = {k: median([r["rps"] for r in v]) for k, v in wrk_runs.items()}
    for name in wrk_runs:
        out.append((f"{name}_rps", round(wrk_rps[name])))
    out.append(("actions_vs_bare", round(wrk_rps["actions"] / wrk_rps["bare_post"], 2)))
    out.append(("device_read_vs_bare", round(wrk_rps["device_read"] / wrk_rps["bare_get"], 2)))
    for name, runs in wrk_runs.items():
        out.append((f"{name}_wrk_p99_ms", round(median([r["p99_ms"] for r in runs]), 2)))
        out.append((f"{name}_server_cpu_us_per_req",
                    round(median([r["cpu_us_per_req"] for r in runs]))))
    wrk_bad = sum(r["non2xx"] + r["errors"] for runs in wrk_runs.values() for r in runs)
    out.append(("wrk_non2xx_or_errors", wrk_bad))
    for name in targets:
        out.append((f"pyclient_{name}_rps", round(median(rps[name]))))
    out.append(("pyclient_actions_vs_bare",
                round(median(rps["actions"]) / median(rps["bare_post"]), 2)))
    out.append(("pyclient_device_read_vs_bare",
                round(median(rps["device_read"]) / median(rps["bare_get"]), 2)))
    for name in targets:
        out.append((f"pyclient_{name}_server_cpu", round(median(cpu[name]), 2)))
    for name in targets:
        out.append((f"{name}_response_bytes", sizes.get(name, 0)))
    out += [
        (f"actions_p50_ms_at_{r}rps", round(lat["p50"], 2)),
        (f"actions_p90_ms_at_{r}rps", round(lat["p90"], 2)),
        (f"actions_p99_ms_at_{r}rps", round(lat["p99"], 2)),
        (f"actions_max_ms_at_{r}rps", round(lat["max"], 2)),
        (f"actions_p99_ms_from_schedule_at_{r}rps", round(lat["p99_from_schedule"], 2)),
        (f"actions_achieved_rps_at_{r}rps", round(lat["achieved_rps"])),
        (f"actions_late_sends_at_{r}rps", f"{lat['late']} of {lat['sent']}"),
        (f"actions_dropped_sends_at_{r}rps", lat["dropped"]),
    ]
    if bare_lat is not None:
        out += [
            (f"bare_post_p50_ms_at_{r}rps", round(bare_lat["p50"], 2)),
            (f"bare_post_p99_ms_at_{r}rps", round(bare_lat["p99"], 2)),
            (f"bare_post_late_sends_at_{r}rps", f"{bare_lat['late']} of {bare_lat['sent']}"),
        ]
    for name in targets:
        out.append((f"{name}_non2xx", non2xx[name]))
    out.append((f"actions_non2xx_at_{r}rps", lat["non2xx"]))
    total_errors = sum(errors.values()) + lat["errors"] + (bare_lat["errors"] if bare_lat else 0)
    out.append(("client_errors", total_errors))

    ratio_a = wrk_rps["actions"] / wrk_rps["bare_post"]
    ratio_d = wrk_rps["device_read"] / wrk_rps["bare_get"]
    missed = []
    if ratio_a < TARGETS["actions_vs_bare"]:
        missed.append(f"actions_vs_bare {ratio_a:.2f} < {TARGETS['actions_vs_bare']}")
    if ratio_d < TARGETS["device_read_vs_bare"]:
        missed.append(f"device_read_vs_bare {ratio_d:.2f} < {TARGETS['device_read_vs_bare']}")
    if not lat["p99"] <= TARGETS["actions_p99_ms"]:
        missed.append(f"actions_p99 {lat['p99']:.2f} ms > {TARGETS['actions_p99_ms']} ms")
    bad = sum(non2xx.values()) + lat["non2xx"] + total_errors + wrk_bad
    if bad:
        missed.append(f"{bad} non-2xx answers or client errors")
    out.append(("targets", "met" if not missed else "missed: " + "; ".join(missed)))
    for name, value in out:
        print(f"{name}: {value}")
    return 0 if not bad else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=4, help="hub/bare alternations (default 4)")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="length of each throughput measurement (default 3)")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up per target (default 1)")
    ap.add_argument("--concurrency", type=int, default=32,
                    help="requests in flight in the throughput runs (default 32)")
    ap.add_argument("--rate", type=float, default=1000.0,
                    help="offered rate of the open-loop latency run (default 1000 req/s)")
    ap.add_argument("--latency-seconds", type=float, default=5.0,
                    help="length of the open-loop latency run (default 5)")
    ap.add_argument("--skip-bare-latency", action="store_true",
                    help="do not run the open loop against the bare app too")
    ap.add_argument("--players", type=int, default=8, help="demo players (default 8)")
    ap.add_argument("--audit-sync", choices=("normal", "full"), default="normal",
                    help="the hub's audit_sync setting (default normal, the hub's default)")
    ap.add_argument("--pin", action="store_true",
                    help="with taskset: servers on the last CPU, the client on the others")
    ap.add_argument("--hub-prefix", default="",
                    help="a command to run the hub under, e.g. 'py-spy record -o hub.svg --'")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    ap.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    if shutil.which("wrk") is None:
        ap.error("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    for name in ("rounds", "concurrency", "players"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if not (0 < args.rate <= 100_000 and 0 < args.latency_seconds <= 120
            and 0 < args.seconds <= 120 and 0 <= args.warmup <= 60 and args.rounds <= 50):
        ap.error("a rate, duration or round count is out of range")

    args.server_cpus = args.client_cpus = None
    if args.pin:
        n = os.cpu_count() or 1
        if n < 2 or shutil.which("taskset") is None:
            ap.error("--pin needs taskset and at least 2 CPUs")
        args.server_cpus, args.client_cpus = str(n - 1), f"0-{n - 2}"
        os.sched_setaffinity(0, set(range(n - 1)))

    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    data_dir = tmp / "data"
    hub_port, bare_port = unused_port(), unused_port()
    config = tmp / "config.yaml"
    config.write_text(
        "hub:\n"
        f"  host: {HOST}\n"
        f"  port: {hub_port}\n"
        f"  data_dir: {data_dir}\n"
        "  log_level: warning\n"
        f"  audit_sync: {args.audit_sync}\n"
        "plugins:\n"
        "  demo:\n"
        f"    players: {args.players}\n")
    env_note = f"# temp dir {tmp}; hub on :{hub_port}, bare app on :{bare_port}"
    print(env_note, file=sys.stderr, flush=True)
    prefix = args.hub_prefix.split() if args.hub_prefix else []
    hub_argv = [*prefix, *hub_command(), "run", "-c", str(config), "--port", str(hub_port)]
    bare_argv = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)]
    servers: list[Server] = []
    try:
        servers.append(Server("hub", pinned(hub_argv, args.server_cpus), hub_port,
                              tmp / "hub.log", tmp))
        servers.append(Server("bare", pinned(bare_argv, args.server_cpus), bare_port,
                              tmp / "bare.log", tmp))
        return asyncio.run(bench(args, *servers, data_dir))
    finally:
        for server in reversed(servers):
            server.stop()
        if args.keep:
            print(f"# kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
