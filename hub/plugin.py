"""The public plugin API: the only module of the core a plugin may import.

A plugin is a pluggy plugin of project "hub" found through the entry-point group
`hub.plugins`. The entry point names a module, an object or a class; a class is instantiated
once per hub (with no arguments), which is the recommended form because it keeps per-hub state
on the instance. Its hooks (see `hub.hookspecs`) receive a `PluginContext`.

    from hub.plugin import hookimpl, PluginInfo, Device, standard_actions

    class MyPlugin:
        @hookimpl
        def describe(self):
            return PluginInfo(actions=standard_actions("play", "pause"))

        @hookimpl
        async def discover(self, ctx):
            return [Device(id="mine.one", name="One", actions=frozenset({"play", "pause"}))]

        @hookimpl
        async def act(self, ctx, device, action, params):
            ...
            ctx.update_device(device.id, state="playing")
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pluggy
from aiohttp import web

from hub.clock import Clock
from hub.errors import (
    Conflict,
    DeviceUnavailable,
    Forbidden,
    HubError,
    InvalidRequest,
    NotFound,
    PluginTimeout,
    RateLimited,
    RelinkRequired,
    Unauthenticated,
    UpstreamError,
)
from hub.maturity import Level, Maturity
from hub.model import (
    MEDIA_TYPES,
    ActionSpec,
    BrowseResult,
    Device,
    MediaItem,
    PluginInfo,
    Principal,
)
from hub.names import fold
from hub.tasks import OwnedTasks
from hub.vocabulary import (
    ENQUEUE_MODES,
    GROUP_ACTIONS,
    MEDIA_ID_MAX,
    REPEAT_MODES,
    STANDARD_ACTIONS,
    Integer,
    Number,
    standard_actions,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "ENQUEUE_MODES",
    "GROUP_ACTIONS",
    "MEDIA_ID_MAX",
    "MEDIA_TYPES",
    "PRINCIPAL_KEY",
    "REPEAT_MODES",
    "STANDARD_ACTIONS",
    "ActionSpec",
    "BrowseResult",
    "CliContext",
    "Clock",
    "Command",
    "Conflict",
    "Device",
    "DeviceUnavailable",
    "Forbidden",
    "HubError",
    "Integer",
    "InvalidRequest",
    "Level",
    "Maturity",
    "MediaItem",
    "NotFound",
    "Number",
    "PluginContext",
    "PluginInfo",
    "PluginTimeout",
    "Principal",
    "RateLimited",
    "RelinkRequired",
    "Unauthenticated",
    "UpstreamError",
    "VaultHandle",
    "admin_route",
    "fold",
    "hookimpl",
    "public_route",
    "standard_actions",
]

hookimpl = pluggy.HookimplMarker("hub")

# Where the core keeps the authenticated caller on a request: `request[PRINCIPAL_KEY]`.
PRINCIPAL_KEY = web.RequestKey("principal", Principal)

T = TypeVar("T")


def public_route(handler: T) -> T:
    """Mark a plugin route handler as reachable without a bearer token (OAuth callbacks)."""
    handler.__hub_public__ = True  # type: ignore[attr-defined]
    return handler


def admin_route(what: str, *, target: str | None = None,
                read: bool = False) -> Callable[[T], T]:
    """Mark a route handler as administration: the core lets only the owner through, and
    records the request in the audit log as `what` (a plugin's is prefixed with its name,
    e.g. `spotify.authorize`), with its decision and its outcome, denied requests included.
    `target` names a path parameter (`{name}`) recorded as the request's target. `read=True`
    for a read (a list, a report): like every read, it is recorded only when denied.

        @admin_route("unlink_account", target="account")
        async def unlink(request): ...

    For work that needs the request body first, use `async with ctx.admin(...)` instead."""

    def mark(handler: T) -> T:
        handler.__hub_admin__ = (what, target, read)  # type: ignore[attr-defined]
        return handler

    return mark


class VaultHandle(Protocol):
    """A plugin's own namespace of the encrypted vault. Values are JSON-serialisable."""

    async def get(self, name: str, default: Any = None) -> Any: ...

    async def set(self, name: str, value: Any) -> None: ...

    async def delete(self, name: str) -> bool: ...

    async def names(self) -> list[str]: ...


class CliContext(Protocol):
    """What a plugin CLI command gets: the running hub's URL, a token (the owner's unless
    `--token` was given), and a request helper returning (status, headers, body)."""

    url: str
    token: str | None

    async def request(
        self, method: str, path: str, *, allow_redirects: bool = True, **kwargs: Any
    ) -> tuple[int, dict[str, str], Any]: ...


@dataclass(frozen=True)
class Command:
    """A CLI command of a plugin: `hub <plugin> <name> [arguments]`.

    `arguments` are (args, kwargs) pairs for argparse's add_argument; `run(cli, namespace)`
    may be a coroutine function and returns the exit code."""

    name: str
    help: str
    run: Callable[[CliContext, argparse.Namespace], Any]
    arguments: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = ()


class _Host(Protocol):
    """What the core implements behind a PluginContext (not for plugins)."""

    def get_device(self, device_id: str) -> Device | None: ...
    def plugin_devices(self, plugin: str) -> list[Device]: ...
    def add_device(self, plugin: str, device: Device) -> None: ...
    def remove_device(self, plugin: str, device_id: str) -> None: ...
    def update_device(self, plugin: str, device_id: str, **changes: Any) -> bool: ...
    def emit_event(self, plugin: str, event_type: str, data: dict[str, Any]) -> None: ...
    async def authenticate(self, request: web.Request) -> Principal: ...
    def admin(self, principal: Principal, what: str, *, source: str = ...,
              target: str | None = ..., params: dict[str, Any] | None = ...) -> Any: ...


class PluginContext:
    """What the hub gives one plugin; passed to every hook.

    Attributes: `name` (the entry-point name, also the device-id prefix), `config` (the
    plugin's validated section), `vault` (its own vault namespace), `clock`, `log`, `data_dir`
    (a directory of its own), `hub_url` (where the hub listens), `version`, `timeout` (the
    seconds the core allows one `act`; plugins size their own I/O timeouts under it).
    """

    def __init__(
        self,
        *,
        host: _Host,
        name: str,
        version: str,
        config: dict[str, Any],
        vault: VaultHandle,
        clock: Clock,
        data_dir: Path,
        hub_url: Callable[[], str],
        executor_factory: Callable[[], Any],
        session_factory: Callable[[], aiohttp.ClientSession],
        timeout: float = 10.0,
    ) -> None:
        self._host = host
        self.name = name
        self.version = version
        self.config = config
        self.vault = vault
        self.clock = clock
        self.data_dir = data_dir
        self._hub_url = hub_url
        self.timeout = timeout  # seconds the core allows each act (the `timeout` config key)
        self.log = logging.getLogger(f"hub.plugins.{name}")
        self._executor_factory = executor_factory
        self._executor: Any = None
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self.tasks = OwnedTasks(self.log, "background task")
        self.state: dict[str, Any] = {}  # free space for module-style plugins

    @property
    def hub_url(self) -> str:
        """Where the hub listens (known for sure once the server is up)."""
        return self._hub_url()

    # -- blocking work and HTTP -------------------------------------------------------------

    async def run_blocking(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Run a blocking call in this plugin's bounded executor, never on the event loop."""
        if self._executor is None:
            self._executor = self._executor_factory()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def http_session(self) -> aiohttp.ClientSession:
        """The plugin's one aiohttp ClientSession, created on first use, closed at shutdown."""
        if self._session is None or self._session.closed:
            self._session = self._session_factory()
        return self._session

    def spawn(self, coro: Awaitable[Any], *, name: str | None = None) -> asyncio.Task:
        """Run a background coroutine owned by the plugin; cancelled at shutdown, errors logged."""
        return self.tasks.spawn(coro, f"{self.name}:{name}" if name else None)

    # -- devices -----------------------------------------------------------------------------

    def device(self, device_id: str) -> Device | None:
        """One of this plugin's devices, or None."""
        device = self._host.get_device(device_id)
        return device if device is not None and device.plugin == self.name else None

    def devices(self) -> list[Device]:
        """This plugin's devices."""
        return self._host.plugin_devices(self.name)

    def add_device(self, device: Device) -> None:
        """Register a device (or replace the one with the same id). Its id must start with
        `<plugin name>.`."""
        self._host.add_device(self.name, device)

    def remove_device(self, device_id: str) -> None:
        self._host.remove_device(self.name, device_id)

    def update_device(
        self,
        device_id: str,
        *,
        state: str | None = None,
        available: bool | None = None,
        reason: str | None = None,
        name: str | None = None,
        info: dict[str, Any] | None = None,
        actions: frozenset[str] | None = None,
        attributes: dict[str, Any] | None = None,
        **more_attributes: Any,
    ) -> bool:
        """Change a device's state, availability or attributes. Publishes one state_changed
        event when anything changed; returns whether it did. Attributes merge; a None value
        removes an attribute."""
        attrs = {**(attributes or {}), **more_attributes}
        return self._host.update_device(
            self.name, device_id, state=state, available=available, reason=reason,
            name=name, info=info, actions=actions, attributes=attrs)

    def emit_event(self, event_type: str, **data: Any) -> None:
        """Publish a plugin event (type is prefixed with the plugin name) to subscribers."""
        self._host.emit_event(self.name, event_type, data)

    # -- routes ------------------------------------------------------------------------------

    async def authenticate(self, request: web.Request) -> Principal:
        """The principal behind a request to one of the plugin's routes.

        Routes are authenticated by the core unless marked `@public_route`; this returns the
        principal the core found, or authenticates a public route's request (raising
        Unauthenticated)."""
        principal = request.get(PRINCIPAL_KEY)
        if principal is not None:
            return principal
        return await self._host.authenticate(request)

    def admin(self, principal: Principal, what: str, *, target: str | None = None,
              params: dict[str, Any] | None = None) -> Any:
        """An administrative request of this plugin, gated (the owner's) and audited as
        `<plugin>.<what>`, denials included; an async context manager:

            async with ctx.admin(principal, "link_account", params={"market": m}):
                ...  # runs only when allowed; its failure is the outcome record's error
        """
        return self._host.admin(principal, f"{self.name}.{what}", target=target,
                                params=params)

    @staticmethod
    def require_owner(principal: Principal) -> None:
        if not principal.is_owner:
            raise Forbidden(
                "only the owner may do this", required="OWNER",
                maturity=principal.maturity.name if principal.maturity else None)
