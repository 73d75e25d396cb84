"""Shared fixtures for tests that run the hub as a user does: `hub run` in a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import unused_port

DEADLINE = 30.0  # seconds, for every bounded wait on a hub process


@dataclass
class HubProcess:
    config: Path
    data: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "-c", str(self.config), "--port",
             str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "HUB_PLUGINS": "demo"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(self.proc.stdout.read().decode())
                try:
                    async with session.get(self.url + "/health") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)  # polling a real process: bounded by DEADLINE
        raise AssertionError("the hub did not start in time")

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Signal the hub, wait for it and return its output."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out = self.proc.communicate(timeout=DEADLINE)[0].decode()
        return out

    @property
    def owner_token(self) -> str:
        return (self.data / "owner.token").read_text().strip()


@pytest.fixture
def hub_process(tmp_path):
    """`hub_process(players=4)` -> HubProcess (not started); killed at the end of the test."""
    made: list[HubProcess] = []

    def make(players: int = 2) -> HubProcess:
        data = tmp_path / "data"
        config = tmp_path / "hub.yaml"
        port = unused_port()
        config.write_text(f"hub:\n  data_dir: {data}\n  port: {port}\nplugins:\n  demo:\n"
                          f"    players: {players}\n")
        made.append(HubProcess(config, data, port))
        return made[-1]

    yield make
    for hp in made:
        if hp.proc is not None and hp.proc.poll() is None:
            hp.proc.kill()
            hp.proc.communicate()
