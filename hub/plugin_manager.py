"""Plugins are loaded here, and only here.

Entry points of the group `hub.plugins` are loaded one at a time. Each gets a status:
`loaded`, `failed` (with the error), `disabled` (excluded by HUB_PLUGINS or `enabled: false`)
or `not_configured` (installed, but no section under `plugins:`; listed as available, never
imported). One broken plugin never stops the hub, unless `--strict-plugins` asks for that.

Loading (import, `describe`, config validation, `routes`) is synchronous because aiohttp's
router must be complete before the server starts; `startup`, `discover`, `connect`, `act` and
`shutdown` run later, each awaited under a timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import aiohttp
import pluggy
import voluptuous as vol

from hub import hookspecs
from hub.config import HubConfig
from hub.errors import HubError, PluginTimeout, UpstreamError
from hub.model import Device, PluginInfo
from hub.plugin import PluginContext
from hub.validation import problems

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hub.plugins"
CORE_KEYS = ("timeout", "max_workers", "enabled")
LIFECYCLE_TIMEOUT = 60.0

CORE_SECTION_SCHEMA = vol.Schema(
    {
        vol.Optional("timeout"): vol.All(vol.Coerce(float), vol.Range(min=0.01, max=600)),
        vol.Optional("max_workers"): vol.All(vol.Coerce(int), vol.Range(min=1, max=256)),
        vol.Optional("enabled", default=True): bool,
    },
    extra=vol.ALLOW_EXTRA,
)


class PluginLoadError(Exception):
    """Raised in strict mode when any plugin fails."""


@dataclass
class LoadedPlugin:
    name: str
    version: str = "unknown"
    distribution: str | None = None
    status: str = "not_configured"
    error: str | None = None
    obj: Any = None
    info: PluginInfo | None = None
    ctx: PluginContext | None = None
    config: dict[str, Any] = field(default_factory=dict)
    timeout: float = 10.0
    routes: list[Any] = field(default_factory=list)
    executor: concurrent.futures.ThreadPoolExecutor | None = None
    session: aiohttp.ClientSession | None = None
    discovery_task: asyncio.Task | None = None

    @property
    def active(self) -> bool:
        return self.status == "loaded"

    def fail(self, stage: str, err: BaseException) -> None:
        self.status = "failed"
        self.error = f"{stage}: {type(err).__name__}: {err}"[:500]


class PluginManager:
    def __init__(
        self,
        config: HubConfig,
        *,
        host: Any,
        vault: Any,
        clock: Any,
        hub_url: Callable[[], str],
        only: Iterable[str] | None = None,
        extra_plugins: Mapping[str, Any] | None = None,
        strict: bool = False,
    ) -> None:
        self._config = config
        self._host = host
        self._vault = vault
        self._clock = clock
        self._hub_url = hub_url
        self._only = set(only) if only is not None else None
        self._extra = dict(extra_plugins or {})
        self._strict = strict
        self.pm = pluggy.PluginManager("hub")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}
        self._callers: dict[tuple[str, str], Any] = {}

    # -- loading -------------------------------------------------------------------------------

    def load_all(self) -> None:
        candidates: dict[str, tuple[Callable[[], Any], str, str | None]] = {}
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist
            candidates.setdefault(ep.name, (ep.load, dist.version if dist else "unknown",
                                            dist.name if dist else None))
        for name, obj in self._extra.items():
            candidates[name] = (lambda obj=obj: obj, getattr(obj, "__version__", "0"), None)
        for name in sorted(set(candidates) | set(self._config.plugins)):
            self.plugins[name] = self._load_one(name, candidates.get(name))
        if self._strict:
            failed = [p for p in self.plugins.values() if p.status == "failed"]
            if failed:
                raise PluginLoadError("; ".join(f"{p.name}: {p.error}" for p in failed))

    def _load_one(self, name: str, candidate: tuple | None) -> LoadedPlugin:
        plugin = LoadedPlugin(name)
        section = self._config.plugins.get(name)
        if candidate is None:
            plugin.status = "failed"
            plugin.error = (f"configured under plugins: but no plugin named {name!r} is "
                            f"installed (entry-point group {ENTRY_POINT_GROUP})")
            log.error("plugin %s: %s", name, plugin.error)
            return plugin
        load, plugin.version, plugin.distribution = candidate
        if self._only is not None and name not in self._only and name not in self._extra:
            plugin.status, plugin.error = "disabled", "not in HUB_PLUGINS"
            return plugin
        if section is None:
            plugin.status = "not_configured"
            return plugin
        try:
            core = CORE_SECTION_SCHEMA(section)
        except vol.Invalid as err:
            plugin.fail("config", self._config_error(name, err))
            return plugin
        if not core["enabled"]:
            plugin.status, plugin.error = "disabled", "enabled: false"
            return plugin
        try:
            obj = load()
            if inspect.isclass(obj):
                obj = obj()
            self.pm.register(obj, name=name)
            plugin.obj = obj
            info = self._call_sync(name, "describe")
            if not isinstance(info, PluginInfo):
                raise TypeError("describe() must return a hub.plugin.PluginInfo")
            plugin.info = info
        except Exception as err:
            log.error("plugin %s failed to load:\n%s", name, traceback.format_exc())
            plugin.fail("load", err)
            self._unregister(plugin)
            return plugin
        own = {k: v for k, v in section.items() if k not in CORE_KEYS}
        try:
            plugin.config = info.config_schema(own)
        except vol.Invalid as err:
            plugin.fail("config", self._config_error(name, err))
            self._unregister(plugin)
            return plugin
        plugin.timeout = core.get("timeout", info.timeout)
        workers = core.get("max_workers", info.max_workers)
        plugin.ctx = PluginContext(
            host=self._host, name=name, version=plugin.version, config=plugin.config,
            vault=self._vault.handle(name), clock=self._clock,
            data_dir=self._config.data_dir / "plugins" / name,
            hub_url=self._hub_url,
            executor_factory=lambda: self._make_executor(plugin, workers),
            session_factory=lambda: self._make_session(plugin),
            timeout=plugin.timeout,
        )
        try:
            routes = self._call_sync(name, "routes", ctx=plugin.ctx)
            plugin.routes = list(routes or [])
        except Exception as err:
            log.error("plugin %s routes failed:\n%s", name, traceback.format_exc())
            plugin.fail("routes", err)
            self._unregister(plugin)
            return plugin
        plugin.status = "loaded"
        return plugin

    def _config_error(self, name: str, err: vol.Invalid) -> Exception:
        return ValueError("; ".join(str(self._config.error(["plugins", name, *path], msg))
                                    for path, msg in problems(err)))

    def _unregister(self, plugin: LoadedPlugin) -> None:
        with contextlib.suppress(Exception):
            if plugin.obj is not None:
                self.pm.unregister(plugin.obj)
        self._callers = {k: v for k, v in self._callers.items() if k[0] != plugin.name}

    def _make_executor(self, plugin: LoadedPlugin,
                       workers: int) -> concurrent.futures.ThreadPoolExecutor:
        plugin.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"hub-{plugin.name}")
        return plugin.executor

    def _make_session(self, plugin: LoadedPlugin) -> aiohttp.ClientSession:
        plugin.session = aiohttp.ClientSession(
            headers={"User-Agent": f"hub-{plugin.name}/{plugin.version}"})
        return plugin.session

    # -- calling hooks -------------------------------------------------------------------------

    def _caller(self, name: str, hook: str) -> Any:
        key = (name, hook)
        caller = self._callers.get(key)
        if caller is None:
            others = [p.obj for p in self.plugins.values() if p.obj is not None and p.name != name]
            caller = self.pm.subset_hook_caller(hook, remove_plugins=others)
            self._callers[key] = caller
        return caller

    def _call_sync(self, name: str, hook: str, **kwargs: Any) -> Any:
        result = self._caller(name, hook)(**kwargs)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError(f"hook {hook} must not be async")
        return result

    def call_sync(self, name: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's synchronous hook (request-time hooks such as affected_devices)."""
        return self._call_sync(name, hook, **kwargs)

    def implements(self, name: str, hook: str) -> bool:
        plugin = self.plugins.get(name)
        return plugin is not None and plugin.obj is not None and any(
            impl.plugin is plugin.obj for impl in getattr(self.pm.hook, hook).get_hookimpls())

    async def call(self, name: str, hook: str, *, timeout: float | None = None,
                   **kwargs: Any) -> Any:
        """Call one plugin's hook and await it (if it returned an awaitable) under a timeout."""
        plugin = self.plugins[name]
        result = self._caller(name, hook)(**kwargs)
        if inspect.isawaitable(result):
            async with asyncio.timeout(timeout if timeout is not None else plugin.timeout):
                result = await result
        return result

    async def act(self, device: Device, action: str, params: dict[str, Any]) -> Any:
        plugin = self.plugins.get(device.plugin)
        if plugin is None or not plugin.active:
            raise UpstreamError(f"plugin {device.plugin} is not running", plugin=device.plugin,
                                device=device.id)
        try:
            return await self.call(plugin.name, "act", ctx=plugin.ctx, device=device,
                                   action=action, params=params)
        except HubError:
            raise
        except TimeoutError:
            raise PluginTimeout(
                f"{plugin.name} did not finish {action} on {device.id} within "
                f"{plugin.timeout:g} s", plugin=plugin.name, device=device.id) from None
        except Exception as err:
            log.warning("plugin %s failed %s on %s", plugin.name, action, device.id,
                        exc_info=True)
            raise UpstreamError(
                f"plugin {plugin.name} failed on {device.id}: {type(err).__name__}: "
                f"{str(err)[:200]}", plugin=plugin.name, device=device.id) from None

    # -- lifecycle -----------------------------------------------------------------------------

    def active(self) -> list[LoadedPlugin]:
        return [p for p in self.plugins.values() if p.active]

    async def start_all(self) -> None:
        for plugin in self.active():
            # mkdir's mode applies to the leaf only: make the parent private too.
            plugin.ctx.data_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            plugin.ctx.data_dir.mkdir(exist_ok=True, mode=0o700)
            try:
                await self.call(plugin.name, "startup", ctx=plugin.ctx,
                                timeout=LIFECYCLE_TIMEOUT)
            except Exception as err:
                log.error("plugin %s failed to start:\n%s", plugin.name, traceback.format_exc())
                plugin.fail("startup", err)
                await self._release(plugin)
                if self._strict:
                    raise PluginLoadError(f"{plugin.name}: {plugin.error}") from err
                continue
            self._host.plugin_status_changed(plugin)

    async def discover(self, name: str) -> list[str]:
        """Run one plugin's discovery; register and connect new devices. Returns new ids."""
        plugin = self.plugins[name]
        if not plugin.active:
            return []
        found = await self.call(name, "discover", ctx=plugin.ctx, timeout=LIFECYCLE_TIMEOUT)
        new: list[Device] = []
        for device in found or ():
            if self._host.register_device(name, device):
                new.append(device)
        await asyncio.gather(*(self._connect(plugin, d) for d in new))
        return [d.id for d in new]

    async def _connect(self, plugin: LoadedPlugin, device: Device) -> None:
        if not self.implements(plugin.name, "connect"):
            return
        try:
            await self.call(plugin.name, "connect", ctx=plugin.ctx, device=device,
                            timeout=LIFECYCLE_TIMEOUT)
        except Exception as err:
            log.warning("plugin %s could not connect %s: %s", plugin.name, device.id, err)
            self._host.registry.update(plugin.name, device.id, available=False,
                                       reason=f"connect failed: {type(err).__name__}: {err}")

    async def discover_all(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for plugin in self.active():
            try:
                results[plugin.name] = {"new": await self.discover(plugin.name)}
            except Exception as err:
                log.warning("discovery of %s failed: %s", plugin.name, err, exc_info=True)
                results[plugin.name] = {"error": f"{type(err).__name__}: {err}"}
        return results

    def start_periodic_discovery(self) -> None:
        for plugin in self.active():
            interval = plugin.info.discovery_interval if plugin.info else None
            if interval:
                plugin.discovery_task = asyncio.create_task(
                    self._periodic(plugin, interval), name=f"discover:{plugin.name}")

    async def _periodic(self, plugin: LoadedPlugin, interval: float) -> None:
        while plugin.active:
            await self._clock.sleep(interval)
            try:
                await self.discover(plugin.name)
            except Exception as err:
                log.warning("periodic discovery of %s failed: %s", plugin.name, err)

    async def status(self, plugin: LoadedPlugin) -> dict[str, Any] | None:
        if not plugin.active or not self.implements(plugin.name, "status"):
            return None
        try:
            return await self.call(plugin.name, "status", ctx=plugin.ctx, timeout=2.0)
        except Exception as err:
            return {"status_error": f"{type(err).__name__}: {err}"}

    async def stop_all(self) -> None:
        for plugin in reversed(list(self.plugins.values())):
            if plugin.ctx is None:
                continue
            if plugin.obj is not None and plugin.status in ("loaded", "failed"):
                try:
                    await self.call(plugin.name, "shutdown", ctx=plugin.ctx,
                                    timeout=LIFECYCLE_TIMEOUT)
                except Exception:
                    log.warning("plugin %s shutdown failed", plugin.name, exc_info=True)
            await self._release(plugin)

    async def _release(self, plugin: LoadedPlugin) -> None:
        if plugin.discovery_task is not None:
            plugin.discovery_task.cancel()
        if plugin.ctx is not None:
            await plugin.ctx.tasks.cancel_all()
        if plugin.session is not None and not plugin.session.closed:
            await plugin.session.close()
        if plugin.executor is not None:
            plugin.executor.shutdown(wait=False, cancel_futures=True)

    def describe(self, plugin: LoadedPlugin) -> dict[str, Any]:
        hooks = sorted(
            {hc.name for hc in self.pm.get_hookcallers(plugin.obj) or ()}
            if plugin.obj is not None and self.pm.is_registered(plugin.obj) else ())
        data: dict[str, Any] = {
            "name": plugin.name,
            "version": plugin.version,
            "distribution": plugin.distribution,
            "status": plugin.status,
            "hooks": hooks,
        }
        if plugin.error:
            data["error"] = plugin.error
        if plugin.info is not None:
            data["description"] = plugin.info.description
            data["actions"] = sorted(plugin.info.actions)
            data["timeout"] = plugin.timeout
        return data
