"""The hooks a Hub plugin implements (pluggy project "hub").

Every hook is optional except `describe`. pluggy calls hooks synchronously; a hook may return
a coroutine and the core awaits it. The core calls a plugin's hooks only for that plugin (never
fanned out across plugins), each under the plugin's timeout, so every spec is `firstresult`.
Hooks receive a `hub.plugin.PluginContext` as `ctx`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aiohttp import web

    from hub.plugin import BrowseResult, Command, Device, MediaItem, PluginContext, PluginInfo

hookspec = pluggy.HookspecMarker("hub")


@hookspec(firstresult=True)
def describe() -> PluginInfo:
    """Describe the plugin: its config schema, the actions it offers (each with a parameter
    schema and the level it requires by default), its discovery interval, executor size and
    action timeout. Called once at load, before the config section is validated. Name and
    version come from the entry point and its distribution, not from here."""


@hookspec(firstresult=True)
def startup(ctx: PluginContext) -> None:
    """Prepare the plugin (open sessions, read the vault, start pollers with `ctx.spawn`).
    An exception here marks the plugin failed; the hub serves the other plugins."""


@hookspec(firstresult=True)
def discover(ctx: PluginContext) -> Iterable[Device] | None:
    """Find devices: at start, on `POST /discover` and every `discovery_interval` seconds.
    Return the devices seen this time (new ones are registered and passed to `connect`), or
    add them yourself with `ctx.add_device`. A device that vanished should be marked
    unavailable with `ctx.update_device(id, available=False, reason=...)`, not removed."""


@hookspec(firstresult=True)
def connect(ctx: PluginContext, device: Device) -> None:
    """Make a newly discovered device usable: open its session, subscribe to its events,
    read its first state. Report availability with `ctx.update_device`. An exception marks
    the device unavailable with the error as reason."""


@hookspec(firstresult=True)
def act(ctx: PluginContext, device: Device, action: str, params: dict[str, Any]) -> Any:
    """Perform one validated, allowed action on one of this plugin's own devices.

    `params` has passed the action's schema. Update the device with `ctx.update_device`
    before returning; the core answers the device's new state. Return an optional
    JSON-serialisable result. Raise a `hub.plugin` error (DeviceUnavailable, UpstreamError,
    RateLimited, ...) to give the client a precise answer; any other exception becomes a 502
    naming the plugin and the device, and exceeding the timeout a 504."""


@hookspec(firstresult=True)
def affected_devices(ctx: PluginContext, device: Device, action: str,
                     params: dict[str, Any]) -> Iterable[str] | None:
    """The ids of every device that `action` with `params` on `device` would change: its blast
    radius, which the governance gate checks device by device and the audit record lists.

    Include `device` itself, the members of its group when the action drives the whole group,
    `join` targets and leaders, every device an "all" action touches. Answer from the plugin's
    own state, synchronously, with no I/O. Not implemented (or None): the core derives it from
    the standard vocabulary (`group_members`, `join`'s `leader` / `group_members`)."""


@hookspec(firstresult=True)
def browse_media(ctx: PluginContext, device: Device, item_id: str | None,
                 cursor: str | None) -> BrowseResult:
    """One level of the media library as `device` sees it: the root (`item_id` None: a folder
    whose children are what the plugin offers: playlists, favorites, the music library...) or
    the children of an item that `can_expand`, one page at a time (`cursor` as returned in the
    previous page). Raise NotFound for an unknown item. Optional; a read, gated and timed out
    like any hook.

    Item ids are at most `MEDIA_ID_MAX` characters, and every id with `can_play` must be
    accepted unchanged as `media_id` by this plugin's `play_media`. The core checks the answer
    (a broken one is this plugin's 502 `invalid_media`) and may cache it for
    `PluginInfo.media_cache_ttl` seconds, or `BrowseResult.cache_ttl` for this page."""


@hookspec(firstresult=True)
def search_media(ctx: PluginContext, query: str, types: frozenset[str] | None, limit: int,
                 device: Device | None) -> list[MediaItem]:
    """Search the plugin's media for `query` (at most `limit` items, of `types` when given,
    a subset of `hub.plugin.MEDIA_TYPES`), best matches first, as `device` would play them
    (None: any of the plugin's devices). Optional; the core searches every capable plugin
    concurrently, each under its own timeout, lists a failing plugin in the answer's `errors`
    beside the others' results, drops items beyond `limit` or of other types, and may cache
    the answer for `PluginInfo.media_cache_ttl` seconds."""


@hookspec(firstresult=True)
def routes(ctx: PluginContext) -> Iterable[web.AbstractRouteDef] | None:
    """Extra HTTP routes (OAuth callbacks, webhooks), mounted under
    `/integrations/<plugin>/`. They require a bearer token unless the handler is marked
    `@public_route`; `await ctx.authenticate(request)` gives the caller."""


@hookspec(firstresult=True)
def status(ctx: PluginContext) -> dict[str, Any] | None:
    """Extra, secret-free status details shown in `GET /plugins` (event mode, linked
    accounts, token lifetimes...)."""


@hookspec(firstresult=True)
def commands() -> list[Command] | None:
    """Extra CLI commands, run as `hub <plugin> <command>` (e.g. `hub spotify link`). They run
    in the CLI process and talk to the running hub over REST through a `CliContext`; the
    plugin module is imported only when its name is typed, so `hub --help` stays fast."""


@hookspec(firstresult=True)
def shutdown(ctx: PluginContext) -> None:
    """Release what `startup` and `connect` took. Called once, even after a failed start."""
