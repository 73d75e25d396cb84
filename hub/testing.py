"""A fixture kit for testing the hub and its plugins (a pytest plugin, loaded automatically).

    async def test_play(hub_factory):
        harness = await hub_factory({"plugins": {"demo": {"players": 2}}})
        status, body = await harness.act("demo.player_1", "play")
        assert status == 200

`hub_factory(config, ...)` starts a real hub in-process (entry-point plugin loading, SQLite
data directory under tmp_path, vault, audit, governance, HTTP API on a loopback port) and stops
it at the end of the test. `ManualClock` lets a test move time without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "HubHarness", "ManualClock", "ThreadedHub", "hub_factory",
           "launch_chromium", "manual_clock"]


class ManualClock:
    """A clock that moves only when the test says so.

    `await clock.advance(s)` moves time forward step by step, waking every sleeper whose
    deadline falls within, in deadline order, and lets the woken tasks run before moving on.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._epoch = start
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self._epoch + self._mono

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        return sum(1 for *_, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        target = self._mono + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._mono = max(self._mono, deadline)
            if not fut.done():
                fut.set_result(None)
                await _settle()
        self._mono = target
        await _settle()

    def set_wall_time(self, epoch: float) -> None:
        """Make `time()` answer `epoch` now (monotonic time is unchanged)."""
        self._epoch = epoch - self._mono


async def _settle(rounds: int = 20) -> None:
    # Enough loop turns for woken tasks to reach their next await (no wall-clock waiting).
    for _ in range(rounds):
        await asyncio.sleep(0)


class HubHarness:
    """A running in-process hub with an HTTP client bound to it."""

    def __init__(self, hub: Any, client: Any, owner_token: str, clock: Any) -> None:
        self.hub = hub
        self.client = client  # aiohttp.test_utils.TestClient
        self.owner_token = owner_token
        self.clock = clock

    @property
    def url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    @staticmethod
    def auth(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def token(self, name: str, kind: str = "agent", maturity: str | None = "INTERN") -> str:
        """Create a token for a new principal and return it."""
        token, _ = await self.hub.tokens.create(name, kind=kind, maturity=maturity)
        return token

    async def request(
        self, method: str, path: str, *, token: str | bool | None = True, **kwargs: Any
    ) -> tuple[int, Any]:
        """Send a request (with the owner token unless `token` says otherwise) and return
        (status, parsed JSON body or text)."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is True:
            token = self.owner_token
        headers.update(self.auth(token or None))
        async with self.client.request(method, path, headers=headers, **kwargs) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kwargs)

    async def act(
        self,
        device: str,
        action: str,
        params: dict[str, Any] | None = None,
        *,
        token: str | bool | None = True,
        dry_run: bool = False,
    ) -> tuple[int, Any]:
        body = {"device": device, "action": action, "params": params or {}, "dry_run": dry_run}
        return await self.request("POST", "/actions", token=token, json=body)

    async def device(self, device_id: str) -> dict[str, Any]:
        status, body = await self.get(f"/devices/{device_id}")
        assert status == 200, body
        return body


HubFactory = Callable[..., Awaitable[HubHarness]]


def _test_server_class() -> Any:
    from aiohttp.test_utils import TestServer

    from hub.http_errors import AppRunner

    class JsonErrorTestServer(TestServer):
        """The test server with `hub run`'s runner (aiohttp's own errors as JSON)."""

        async def _make_runner(self, **kwargs: Any) -> Any:
            return AppRunner(self.app, **kwargs)

    return JsonErrorTestServer


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def hub_factory(tmp_path: Path) -> AsyncIterator[HubFactory]:
    """An async factory: `await hub_factory(config, *, only=None, extra_plugins=None,
    clock=None, env=None, data_dir=None)` -> HubHarness.

    `config` is the YAML document as a dict (or YAML text); `hub.data_dir` defaults to a
    temporary directory. `only` restricts entry-point loading like HUB_PLUGINS;
    `extra_plugins` registers plugin objects directly ({name: plugin}), for core tests.
    """
    from aiohttp.test_utils import TestClient, unused_port

    from hub.app import Hub
    from hub.config import load_config_data
    from hub.server import AccessLogger

    _JsonErrorTestServer = _test_server_class()
    started: list[tuple[Any, Any]] = []
    counter = itertools.count()

    async def make(
        config: dict[str, Any] | str | None = None,
        *,
        only: list[str] | None = None,
        extra_plugins: dict[str, Any] | None = None,
        clock: Any = None,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
        strict_plugins: bool = False,
    ) -> HubHarness:
        n = next(counter)
        cfg = load_config_data(
            config or {}, base_dir=tmp_path,
            data_dir_default=data_dir or tmp_path / f"hub-data-{n}")
        hub = Hub(cfg, clock=clock, only_plugins=only, extra_plugins=extra_plugins,
                  env=env if env is not None else {}, strict_plugins=strict_plugins)
        port = unused_port()
        cfg.hub["port"] = port
        hub.hub_url = f"http://127.0.0.1:{port}"  # known to plugins before they start
        server = _JsonErrorTestServer(hub.web_app(), host="127.0.0.1", port=port)
        await server.start_server(access_log_class=AccessLogger)  # as `hub run` logs
        client = TestClient(server)
        await client.start_server()
        started.append((hub, client))
        return HubHarness(hub, client, hub.owner_token, hub.clock)

    yield make
    for _hub, client in reversed(started):
        await client.close()


# -- a hub beside synchronous code (browser tests, benchmarks) ----------------------------------

# Debian's Chromium, driven by Playwright (whose own browser download is not used).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright: Any, executable: str = CHROMIUM) -> Any:
    """A fresh headless Chromium (its own temporary profile) from a Playwright instance."""
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


class ThreadedHub:
    """A real hub (entry-point plugins, SQLite, HTTP on a loopback port) on its own event
    loop in a background thread, for synchronous callers such as Playwright's sync API.

        with ThreadedHub(tmp_path, "plugins: {demo: {players: 3}}") as server:
            server.url, server.owner_token, server.call(server.clock.advance(61))

    `config` is YAML text written to `config.yaml` in `directory` (so a reload re-reads it);
    the data directory is beside it and the clock a ManualClock unless one is given.
    """

    def __init__(self, directory: Path, config: str, *, clock: Any = None,
                 only: list[str] | None = None) -> None:
        import threading

        self.directory = directory
        self.config_path = directory / "config.yaml"
        self.config_path.write_text(config)
        self.clock = clock if clock is not None else ManualClock()
        self.only = only
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="threaded-hub",
                                        daemon=True)
        self.hub: Any = None
        self._runner: Any = None
        self.port = 0

    def call(self, coro: Awaitable[Any], timeout: float = 30.0) -> Any:
        """Run a coroutine on the hub's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def owner_token(self) -> str:
        return self.hub.owner_token

    def __enter__(self) -> ThreadedHub:
        self._thread.start()
        try:
            self.call(self._start())
        except BaseException:
            self.__exit__()
            raise
        return self

    async def _start(self) -> None:
        from aiohttp import web
        from aiohttp.test_utils import unused_port

        from hub.app import Hub
        from hub.config import load_config
        from hub.server import AccessLogger

        cfg = load_config(self.config_path, env={}, data_dir=self.directory / "data")
        self.port = unused_port()
        cfg.hub["port"] = self.port
        self.hub = Hub(cfg, clock=self.clock, only_plugins=self.only, env={})
        self.hub.hub_url = self.url
        self._runner = web.AppRunner(self.hub.web_app(), access_log_class=AccessLogger,
                                     handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __exit__(self, *_exc: Any) -> None:
        if self._runner is not None:
            self.call(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()
