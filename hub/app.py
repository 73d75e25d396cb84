"""The Hub: builds the parts, runs their lifecycle, and is what plugins talk to (the host).

Start order: storage (migrations) -> vault (key checks) -> tokens (owner at first start) ->
audit writer -> plugin startup -> discovery + connect -> automations. Stop is the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from hub import __version__
from hub.audit import AuditLog
from hub.clock import Clock, SystemClock
from hub.config import HubConfig, load_config
from hub.errors import ConfigError
from hub.events import EventBus
from hub.governance import Governance
from hub.media import MediaLibrary
from hub.model import Device, Principal
from hub.pipeline import Pipeline
from hub.plugin_manager import LoadedPlugin, PluginManager
from hub.registry import DeviceRegistry
from hub.sessions import SessionStore, authenticate_request
from hub.storage import Storage
from hub.tokens import TokenStore
from hub.vault import Vault, load_keys

log = logging.getLogger(__name__)

TOKEN_WATCH_INTERVAL = 1.0  # seconds between checks for token changes made by the CLI


class Hub:
    def __init__(
        self,
        config: HubConfig,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        only_plugins: list[str] | None = None,
        extra_plugins: Mapping[str, Any] | None = None,
        strict_plugins: bool = False,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.env = env if env is not None else os.environ
        self.data_dir = config.data_dir
        self.version = __version__
        self.hub_url = f"http://{config.host}:{config.port}"
        self.bus = EventBus(self.clock.time)
        self.registry = DeviceRegistry(self.bus, self.clock)
        self.storage = Storage(self.data_dir, synchronous=config.hub.get("audit_sync", "normal"))
        self.vault = Vault(self.storage)
        self.tokens = TokenStore(self.storage, self.clock)
        self.sessions = SessionStore(self.storage, self.tokens, self.clock)
        self.audit = AuditLog(self.storage, self.clock,
                              retention=config.audit.get("retention"))
        self.governance = Governance(config.governance)
        if only_plugins is None and self.env.get("HUB_PLUGINS"):
            only_plugins = [p.strip() for p in self.env["HUB_PLUGINS"].split(",") if p.strip()]
        self.plugins = PluginManager(
            config, host=self, vault=self.vault, clock=self.clock,
            hub_url=lambda: self.hub_url, only=only_plugins, extra_plugins=extra_plugins,
            strict=strict_plugins)
        self.pipeline = Pipeline(registry=self.registry, plugins=self.plugins,
                                 governance=self.governance, audit=self.audit, bus=self.bus,
                                 clock=self.clock)
        self.pipeline.refusals.configure(**config.audit.get("refusals", {}))
        self.media = MediaLibrary(registry=self.registry, plugins=self.plugins,
                                  governance=self.governance, audit=self.audit, bus=self.bus,
                                  clock=self.clock)
        self.automations = _automation_engine(self)
        self.owner_token: str | None = None
        self.owner_token_path = self.data_dir / "owner.token"
        self.started_at: float | None = None
        self._loaded = False
        self._watch_task: asyncio.Task | None = None
        self.tokens.add_revoke_listener(self.governance.invalidate)
        self.tokens.add_revoke_listener(self.sessions.principal_revoked)

    # -- lifecycle -------------------------------------------------------------------------------

    def load_plugins(self) -> None:
        if not self._loaded:
            self._loaded = True
            self.plugins.load_all()

    def web_app(self) -> web.Application:
        from hub.server import build_app

        self.load_plugins()
        return build_app(self)

    async def start(self) -> None:
        self.load_plugins()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self.storage.open()
        try:
            keys, origin = load_keys(self.data_dir, self.env)
            await self.vault.open(keys, origin)
            await self.tokens.load()
            await self.sessions.load()
            created, self.owner_token_path = await self.tokens.ensure_owner(self.data_dir)
            if created:
                log.warning("created the owner token in %s (mode 0600)", self.owner_token_path)
            self.owner_token = created or _read_token(self.owner_token_path)
            await self.audit.start()
        except BaseException:
            await self.storage.close()
            raise
        self._data_version = await self.storage.data_version()
        self._watch_task = asyncio.create_task(self._watch_tokens(), name="token-watch")
        await self.plugins.start_all()
        await self.plugins.discover_all()
        self.plugins.start_periodic_discovery()
        if self.automations is not None:
            await self.automations.start()
        self.started_at = self.clock.time()

    async def stop(self) -> None:
        if self.automations is not None:
            with contextlib.suppress(Exception):
                await self.automations.stop()
        await self.plugins.stop_all()
        self.bus.close_all()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        with contextlib.suppress(Exception):
            await self.pipeline.close()
        await self.sessions.stop()
        await self.audit.stop()
        await self.storage.close()

    async def _watch_tokens(self) -> None:
        # `hub token revoke` may run in another process; SQLite's data_version tells us the
        # database changed under us, and we reload the tokens (notifying revocations).
        while True:
            await asyncio.sleep(TOKEN_WATCH_INTERVAL)
            try:
                version = await self.storage.data_version()
                if version != self._data_version:
                    self._data_version = version
                    # The audit writer's own commits change data_version too (every second
                    # under load): reload only when the tokens table itself changed.
                    if await self.tokens.changed():
                        await self.tokens.load()
            except Exception:
                log.warning("token watch failed", exc_info=True)

    async def reload_config(self) -> None:
        """Re-read the YAML; on success apply the new policy and automations, else keep the
        running configuration and raise ConfigError."""
        if self.config.path is None:
            raise ConfigError("this hub was not started from a file; nothing to reload")
        new = load_config(self.config.path, env=self.env, data_dir=self.data_dir)
        self.governance.load(new.governance)
        self.config.governance = new.governance
        self.config.automations = new.automations
        self.config._root = new._root  # lines of problems found in the new automations
        if self.automations is not None:
            await self.automations.reload(new.automations)
        log.info("configuration reloaded from %s", self.config.path)

    # -- what plugins call (the host behind PluginContext) ---------------------------------------

    def get_device(self, device_id: str) -> Device | None:
        return self.registry.get(device_id)

    def plugin_devices(self, plugin: str) -> list[Device]:
        return self.registry.by_plugin(plugin)

    def add_device(self, plugin: str, device: Device) -> None:
        self.registry.add(plugin, device)

    def register_device(self, plugin: str, device: Device) -> bool:
        """From discovery: register a device if it is new; True when it was."""
        if self.registry.get(device.id) is not None:
            return False
        return self.registry.add(plugin, device)

    def remove_device(self, plugin: str, device_id: str) -> None:
        self.registry.remove(plugin, device_id)

    def update_device(self, plugin: str, device_id: str, **changes: Any) -> bool:
        return self.registry.update(plugin, device_id, **changes)

    def emit_event(self, plugin: str, event_type: str, data: dict[str, Any]) -> None:
        self.bus.publish("plugin_event", {"plugin": plugin, "event": f"{plugin}.{event_type}",
                                          **data})

    async def authenticate(self, request: web.Request) -> Principal:
        return authenticate_request(self, request)

    def admin(self, principal: Principal, what: str, **kwargs: Any) -> Any:
        return self.pipeline.admin(principal, what, **kwargs)

    def plugin_status_changed(self, plugin: LoadedPlugin) -> None:
        self.bus.publish("plugin_status", {"plugin": plugin.name, "status": plugin.status})


def _read_token(path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _automation_engine(hub: Hub) -> Any:
    try:
        from hub.automations import AutomationEngine
    except ImportError:
        return None
    return AutomationEngine(hub)
