"""WebSocket fan-out benchmark: one state change delivered to 1,000 subscribed clients.

    .venv/bin/python bench/bench_ws_fanout.py [--clients 1000] [--rounds 30] [--interval 0.25]

This process runs a real hub (demo plugin, SQLite audit, the aiohttp server) on 127.0.0.1.
A second process (this script with --client-mode) opens the client sockets, authenticates,
subscribes each one to `state_changed` of demo.player_1, and records when every event arrives.
The clients speak the WebSocket protocol by hand (a few lines of framing) so that their own
cost is a timestamp per read, not a full client library: what is measured is the hub.

Each round is one action through the pipeline (play / pause, as the owner), which publishes
one state_changed event. Latency = arrival wall time in the client process - the event's
`time` (the hub's wall clock at publish), so it covers the bus, the per-socket queue and
writer, the kernel and the client's read. Both processes share the machine's clock.

Traffic stays on 127.0.0.1; every loop is bounded in count and time. Ends with `name: value`
lines.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
OVERALL_TIMEOUT = 600.0  # seconds for the whole run
CONNECT_BATCH = 100  # sockets opened at once (stay under the listen backlog)
TOKEN_ENV = "HUB_BENCH_TOKEN"  # the owner token goes to the client process by environment,
# never on the command line where `ps` shows it


def raise_fd_limit(wanted: int) -> int:
    """Two file descriptors per client (server + client side) plus the hub's own."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


# -- the client process ---------------------------------------------------------------------------


class BenchClient(asyncio.Protocol):
    """A minimal WebSocket client: handshake, auth, subscribe, then timestamp every read."""

    def __init__(self, port: int, token: str, ready: asyncio.Future) -> None:
        self.port = port
        self.token = token
        self.ready = ready
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.phase = "auth"
        self.arrivals: list[tuple[float, bytes]] = []  # parsed after the run

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET /ws HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        now = time.time()  # first thing: the arrival time of everything in this read
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self._fail(f"upgrade refused: {bytes(self.buffer[:80])!r}")
                return
            del self.buffer[:end + 4]
            self.upgraded = True
        for opcode, payload in self._frames():
            if opcode == 0x1:
                if self.phase == "events":
                    self.arrivals.append((now, payload))
                else:
                    self._handshake(json.loads(payload))
            elif opcode == 0x9:
                self._send(payload, opcode=0xA)  # pong
            elif opcode == 0x8:
                self._fail("closed by the hub")

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("connection lost")

    def _handshake(self, msg: dict) -> None:
        if msg["type"] == "auth_required":
            self._send(json.dumps({"type": "auth", "access_token": self.token}).encode())
        elif msg["type"] == "auth_ok":
            self._send(json.dumps({"id": 1, "type": "subscribe",
                                   "event_types": ["state_changed"],
                                   "devices": ["demo.player_1"]}).encode())
        elif msg.get("type") == "result" and msg.get("success"):
            self.phase = "events"
            if not self.ready.done():
                self.ready.set_result(None)
        else:
            self._fail(f"unexpected {msg}")

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(why))

    def _frames(self):
        buf = self.buffer
        while len(buf) >= 2:
            opcode, length, pos = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, pos = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, pos = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < pos + length:
                return
            payload = bytes(buf[pos:pos + length])
            del buf[:pos + length]
            yield opcode, payload

    def _send(self, payload: bytes, opcode: int = 0x1) -> None:
        # Client frames must be masked (RFC 6455 5.3).
        mask = os.urandom(4)
        size = len(payload)
        header = bytearray([0x80 | opcode])
        if size < 126:
            header.append(0x80 | size)
        elif size < 65536:
            header += bytes([0x80 | 126]) + size.to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + size.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(bytes(header) + mask + masked)


async def client_main(port: int, clients: int) -> None:
    loop = asyncio.get_running_loop()
    token = os.environ[TOKEN_ENV]
    protocols: list[BenchClient] = []
    for start in range(0, clients, CONNECT_BATCH):
        batch = []
        for _ in range(min(CONNECT_BATCH, clients - start)):
            ready = loop.create_future()
            batch.append(loop.create_connection(
                lambda ready=ready: BenchClient(port, token, ready), HOST, port))
        made = await asyncio.gather(*batch)
        new = [protocol for _, protocol in made]
        await asyncio.wait_for(asyncio.gather(*(p.ready for p in new)), 60)
        protocols.extend(new)
    print(f"READY {len(protocols)}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await asyncio.wait_for(reader.readline(), OVERALL_TIMEOUT)  # "DONE"
    latencies: dict[int, list[float]] = {}
    for protocol in protocols:
        for arrived, payload in protocol.arrivals:
            event = json.loads(payload)["event"]
            seq = round(event["time"] * 1e6)  # one publish time per round
            latencies.setdefault(seq, []).append(arrived - event["time"])
    print(json.dumps({"rounds": [latencies[k] for k in sorted(latencies)]}), flush=True)
    for protocol in protocols:
        if protocol.transport is not None:
            protocol.transport.close()


# -- the hub process ------------------------------------------------------------------------------


async def hub_main(args: argparse.Namespace) -> dict[str, float | int | str]:
    from aiohttp import web

    from hub.app import Hub
    from hub.config import load_config_data

    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        config = load_config_data({"plugins": {"demo": {"players": 1}}}, base_dir=Path(tmp),
                                  data_dir_default=Path(tmp) / "data")
        hub = Hub(config, env={}, only_plugins=["demo"])
        runner = web.AppRunner(hub.web_app(), handle_signals=False)
        await runner.setup()  # starts the hub
        site = web.TCPSite(runner, HOST, 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        owner = hub.tokens.authenticate(hub.owner_token)
        client = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client-mode", "--port", str(port),
            "--clients", str(args.clients),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**26,
            env={**os.environ, TOKEN_ENV: hub.owner_token or ""})
        try:
            started = time.perf_counter()
            line = await asyncio.wait_for(client.stdout.readline(), 120)  # type: ignore[union-attr]
            if not line.startswith(b"READY"):
                raise RuntimeError(f"client process failed: {line!r}")
            connect_seconds = time.perf_counter() - started
            connected = int(line.split()[1])
            await asyncio.sleep(0.5)
            for n in range(args.rounds):
                await hub.pipeline.execute(owner, "demo.player_1",
                                           "play" if n % 2 == 0 else "pause", source="bench")
                await asyncio.sleep(args.interval)
            client.stdin.write(b"DONE\n")  # type: ignore[union-attr]
            await client.stdin.drain()  # type: ignore[union-attr]
            report = json.loads(await asyncio.wait_for(
                client.stdout.readline(), 120))  # type: ignore[union-attr]
        finally:
            with contextlib.suppress(ProcessLookupError):
                client.kill()
            await client.wait()
            await runner.cleanup()
    rounds = report["rounds"]
    samples = [latency * 1000 for r in rounds for latency in r]
    last_per_round = [max(r) * 1000 for r in rounds if r]
    return {
        "clients": connected,
        "rounds": args.rounds,
        "deliveries": len(samples),
        "missed": args.rounds * connected - len(samples),
        "connect_seconds": round(connect_seconds, 2),
        "p50_ms": round(statistics.median(samples), 2),
        "p90_ms": round(percentile(samples, 90), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "max_ms": round(max(samples), 2),
        "fanout_complete_p50_ms": round(statistics.median(last_per_round), 2),
        "cpu_count": os.cpu_count() or 0,
        # other work on the machine skews a CPU-bound fan-out: say how busy it was
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.25,
                        help="seconds between state changes")
    parser.add_argument("--client-mode", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.clients <= 10_000 or not 1 <= args.rounds <= 1000:
        parser.error("clients 1..10000, rounds 1..1000")
    raise_fd_limit(2 * args.clients + 1024)
    if args.client_mode:
        asyncio.run(asyncio.wait_for(client_main(args.port, args.clients), OVERALL_TIMEOUT))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    results = asyncio.run(asyncio.wait_for(hub_main(args), OVERALL_TIMEOUT))
    for name, value in results.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
