"""Plugins are found only through installed entry points; one broken plugin never stops the hub."""

from __future__ import annotations

import ast
import asyncio
import textwrap
from pathlib import Path

import pytest

from hub.plugin import Device, PluginInfo, UpstreamError, hookimpl, standard_actions
from hub.plugin_manager import PluginLoadError

TINY = '''
from hub.plugin import Device, PluginInfo, hookimpl, standard_actions

class TinyPlugin:
    @hookimpl
    def describe(self):
        return PluginInfo(description="tiny test plugin", actions=standard_actions("play"))

    @hookimpl
    def discover(self, ctx):
        return [Device(id="tiny.one", name="Tiny One", actions=frozenset({"play"}))]

    @hookimpl
    def act(self, ctx, device, action, params):
        ctx.update_device(device.id, state="playing")
        return {"tiny": True}
'''


def install_distribution(root: Path, name: str, version: str, module: str, source: str,
                         entry: str) -> None:
    """Lay out a distribution the way pip installs one: a package and its .dist-info."""
    pkg = root / module
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[hub.plugins]\n{entry}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    install_distribution(root, "hub-tiny", "0.3.0", "hub_tiny_test", TINY,
                         "tiny = hub_tiny_test:TinyPlugin")
    install_distribution(root, "hub-broken", "1.0.0", "hub_broken_test",
                         "raise RuntimeError('broken on import')",
                         "broken = hub_broken_test:Plugin")
    monkeypatch.syspath_prepend(str(root))
    return root


async def test_installed_plugin_is_found_and_serves_devices(hub_factory, site):
    harness = await hub_factory({"plugins": {"tiny": {}, "demo": {"players": 1}}},
                                only=["tiny", "demo"])
    status, body = await harness.get("/plugins")
    assert status == 200
    tiny = next(p for p in body["plugins"] if p["name"] == "tiny")
    assert tiny["status"] == "loaded"
    assert tiny["version"] == "0.3.0"
    assert tiny["distribution"] == "hub-tiny"
    assert {"describe", "discover", "act"} <= set(tiny["hooks"])
    status, body = await harness.get("/devices")
    assert {d["id"] for d in body["devices"]} == {"tiny.one", "demo.player_1"}
    status, body = await harness.act("tiny.one", "play")
    assert status == 200, body
    assert body["result"] == {"tiny": True}
    assert body["state"]["state"] == "playing"


async def test_plugin_whose_import_raises_is_failed_and_others_work(hub_factory, site):
    harness = await hub_factory({"plugins": {"broken": {}, "demo": {"players": 1}}},
                                only=["broken", "demo"])
    _, body = await harness.get("/plugins")
    plugins = {p["name"]: p for p in body["plugins"]}
    assert plugins["broken"]["status"] == "failed"
    assert "RuntimeError: broken on import" in plugins["broken"]["error"]
    assert plugins["demo"]["status"] == "loaded"
    status, _ = await harness.act("demo.player_1", "play")
    assert status == 200


async def test_statuses_not_configured_disabled_and_missing(hub_factory, site):
    harness = await hub_factory(
        {"plugins": {"demo": {"players": 1, "enabled": False}, "ghost": {}}},
        only=["demo", "ghost", "broken"])
    _, body = await harness.get("/plugins")
    plugins = {p["name"]: p for p in body["plugins"]}
    assert plugins["demo"]["status"] == "disabled"
    assert plugins["broken"]["status"] == "not_configured"  # installed, never imported
    assert plugins["tiny"]["status"] == "disabled"  # not in the HUB_PLUGINS list
    assert plugins["ghost"]["status"] == "failed"
    assert "no plugin named 'ghost' is installed" in plugins["ghost"]["error"]


async def test_hub_plugins_env_restricts_loading(hub_factory, site):
    harness = await hub_factory({"plugins": {"tiny": {}, "demo": {"players": 1}}},
                                env={"HUB_PLUGINS": "tiny"})
    _, body = await harness.get("/plugins")
    plugins = {p["name"]: p for p in body["plugins"]}
    assert plugins["tiny"]["status"] == "loaded"
    assert plugins["demo"]["status"] == "disabled"


async def test_strict_plugins_turns_a_failure_into_a_startup_error(hub_factory, site):
    with pytest.raises(PluginLoadError, match="broken"):
        await hub_factory({"plugins": {"broken": {}}}, only=["broken"], strict_plugins=True)


async def test_plugin_section_is_validated_with_its_own_schema(hub_factory):
    harness = await hub_factory({"plugins": {"demo": {"players": "many", "colour": 1}}},
                                only=["demo"])
    _, body = await harness.get("/plugins")
    demo = next(p for p in body["plugins"] if p["name"] == "demo")
    assert demo["status"] == "failed"
    assert "plugins.demo.colour: unknown key" in demo["error"]


class Misbehaving:
    """Registered directly (not an entry point) to drive the error mapping."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate

    @hookimpl
    def describe(self):
        return PluginInfo(actions=standard_actions("play", "pause", "stop"), timeout=0.2)

    @hookimpl
    def discover(self, ctx):
        return [Device(id="bad.one", name="Bad", actions=frozenset({"play", "pause", "stop"}))]

    @hookimpl
    async def act(self, ctx, device, action, params):
        if action == "play":
            raise KeyError("speaker exploded")
        if action == "pause":
            await self.gate.wait()  # never set: exceeds the 0.2 s timeout
        raise UpstreamError("the device said no", code="device_refused")


async def test_plugin_exception_is_502_naming_plugin_and_device(hub_factory):
    harness = await hub_factory({"plugins": {"bad": {}}}, only=[],
                                extra_plugins={"bad": Misbehaving(asyncio.Event())})
    status, body = await harness.act("bad.one", "play")
    assert status == 502
    assert body["error"]["code"] == "upstream_error"
    assert body["error"]["plugin"] == "bad" and body["error"]["device"] == "bad.one"
    assert "Traceback" not in body["error"]["message"]
    status, body = await harness.act("bad.one", "stop")
    assert status == 502 and body["error"]["code"] == "device_refused"


async def test_plugin_timeout_is_504(hub_factory):
    harness = await hub_factory({"plugins": {"bad": {"timeout": 0.05}}}, only=[],
                                extra_plugins={"bad": Misbehaving(asyncio.Event())})
    status, body = await harness.act("bad.one", "pause")
    assert status == 504
    assert body["error"]["code"] == "timeout"
    assert body["error"]["plugin"] == "bad"
    _, audit = await harness.get("/audit?device=bad.one&limit=1")
    assert audit["records"][0]["outcome"] == "error"
    assert audit["records"][0]["error"].startswith("timeout")


class StartupFails:
    @hookimpl
    def describe(self):
        return PluginInfo()

    @hookimpl
    async def startup(self, ctx):
        raise ConnectionError("no network")


async def test_failing_startup_marks_plugin_failed_and_hub_serves(hub_factory):
    harness = await hub_factory({"plugins": {"flaky": {}, "demo": {"players": 1}}},
                                only=["demo"], extra_plugins={"flaky": StartupFails()})
    _, body = await harness.get("/plugins")
    plugins = {p["name"]: p for p in body["plugins"]}
    assert plugins["flaky"]["status"] == "failed"
    assert "startup: ConnectionError: no network" in plugins["flaky"]["error"]
    status, _ = await harness.act("demo.player_1", "play")
    assert status == 200


class Executor:
    @hookimpl
    def describe(self):
        return PluginInfo(max_workers=2)


async def test_plugin_gets_a_bounded_executor(hub_factory):
    import threading

    harness = await hub_factory({"plugins": {"ex": {}}}, only=[],
                                extra_plugins={"ex": Executor()})
    ctx = harness.hub.plugins.plugins["ex"].ctx
    names = await asyncio.gather(*(ctx.run_blocking(lambda: threading.current_thread().name)
                                   for _ in range(20)))
    assert all(n.startswith("hub-ex") for n in names)
    assert len(set(names)) <= 2
    assert threading.current_thread().name not in names


def test_plugins_import_only_the_public_plugin_api():
    """A plugin imports hub.plugin (and hub.testing in tests), never core internals."""
    root = Path(__file__).resolve().parents[1] / "plugins"
    allowed = {"hub", "hub.plugin", "hub.testing"}
    offenders = []
    files = list(root.glob("*/**/*.py"))
    assert files, "no plugin sources found"
    for path in files:
        if ".venv" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "hub":
                    names = [f"hub.{a.name}" for a in node.names]
            for name in names:
                if (name == "hub" or name.startswith("hub.")) and name not in allowed:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


class Spawner:
    """Starts a task that fails and one that would run forever."""

    def __init__(self) -> None:
        self.forever: asyncio.Task | None = None

    @hookimpl
    def describe(self):
        return PluginInfo()

    @hookimpl
    async def startup(self, ctx):
        async def boom():
            raise RuntimeError("poller crashed")

        ctx.spawn(boom(), name="poller")
        self.forever = ctx.spawn(asyncio.Event().wait(), name="listener")


async def test_spawned_tasks_are_logged_when_they_fail_and_cancelled_at_shutdown(
        hub_factory, caplog):
    plugin = Spawner()
    harness = await hub_factory({"plugins": {"spawner": {}}}, only=[],
                                extra_plugins={"spawner": plugin})
    await asyncio.sleep(0)  # let the failing task run and report
    assert "background task spawner:poller failed" in caplog.text
    assert "poller crashed" in caplog.text
    assert not plugin.forever.done()
    await harness.client.close()  # stops the hub: shutdown releases the plugin
    assert plugin.forever.cancelled()
