"""Plain data the core and plugins exchange: actions, plugin descriptions, devices, principals."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import voluptuous as vol

from hub.maturity import Level, Maturity


@dataclass(frozen=True, eq=False)  # identity hash: specs are cached by identity
class ActionSpec:
    """One action a plugin offers.

    `schema` validates the `params` object (defaults are filled in before `act` is called);
    `required` is the level the governance gate asks for unless a policy rule says otherwise;
    `secret_params` are redacted from the audit log.
    """

    name: str
    description: str = ""
    schema: vol.Schema = field(default_factory=lambda: vol.Schema({}))
    required: Level = Level.SUPERVISED
    secret_params: frozenset[str] = frozenset()

    def with_required(self, required: Level) -> ActionSpec:
        return dataclasses.replace(self, required=required)

    def with_schema(self, schema: dict | vol.Schema, description: str | None = None) -> ActionSpec:
        schema = schema if isinstance(schema, vol.Schema) else vol.Schema(schema)
        return dataclasses.replace(
            self, schema=schema, description=description or self.description)


@dataclass(frozen=True)
class PluginInfo:
    """What `describe` returns.

    `config_schema` validates the plugin's section under `plugins:` (the core strips its own
    keys `timeout` and `max_workers` first). `discovery_interval` (seconds) makes the core call
    `discover` periodically; None means only at start and on `POST /discover`.
    `media_cache_ttl` (seconds) is how long the core may keep this plugin's `browse_media` and
    `search_media` answers and give them to any principal allowed to read them; 0 forbids
    caching (a `BrowseResult.cache_ttl` overrides it for one page).
    """

    description: str = ""
    config_schema: vol.Schema = field(
        default_factory=lambda: vol.Schema({}, extra=vol.PREVENT_EXTRA))
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    discovery_interval: float | None = None
    max_workers: int = 4
    timeout: float = 10.0
    media_cache_ttl: float = 10.0


@dataclass
class Device:
    """One controllable thing. Ids are namespaced by plugin: `<plugin>.<stable id>`.

    A plugin creates it and hands it to `ctx.add_device` (or returns it from `discover`); from
    then on the core owns it and the plugin changes it only through `ctx.update_device`, so
    every change becomes one state_changed event.
    """

    id: str
    name: str
    actions: frozenset[str] = frozenset()
    state: str = "idle"
    attributes: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # model, manufacturer, sw_version, ...
    available: bool = True
    unavailable_reason: str | None = None
    updated_at: float = 0.0
    # The last snapshot, shared by events, answers and reads until the registry changes the
    # device (which it alone does): one build per change instead of one per use. Read-only.
    _snapshot: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def plugin(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def reported_state(self) -> str:
        return self.state if self.available else "unavailable"

    def snapshot(self) -> dict[str, Any]:
        """The device as clients see it. Shared: treat the dict as read-only."""
        if self._snapshot is not None:
            return self._snapshot
        data = {
            "id": self.id,
            "name": self.name,
            "plugin": self.plugin,
            "state": self.reported_state,
            "available": self.available,
            "attributes": dict(self.attributes),
            "actions": sorted(self.actions),
            "info": dict(self.info),
            "updated_at": self.updated_at,
        }
        if not self.available and self.unavailable_reason:
            data["unavailable_reason"] = self.unavailable_reason
        self._snapshot = data
        return data


MEDIA_TYPES = ("track", "album", "artist", "playlist", "radio", "podcast", "episode",
               "favorite", "folder")


@dataclass(frozen=True)
class MediaItem:
    """One entry of a plugin's media library (`browse_media` / `search_media`).

    `id` is opaque to clients and accepted unchanged as `media_id` by the same plugin's
    `play_media` (when `can_play`) and as `item_id` by its `browse_media` (when `can_expand`).
    `type` is one of MEDIA_TYPES; `subtitle` names the artist, owner or show; `duration` is in
    seconds; `thumbnail` is an absolute http(s) URL. `plugin` is filled in by the core.
    """

    id: str
    title: str
    type: str
    subtitle: str | None = None
    duration: float | None = None
    thumbnail: str | None = None
    can_play: bool = False
    can_expand: bool = False
    plugin: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "subtitle": self.subtitle,
            "duration": self.duration,
            "thumbnail": self.thumbnail,
            "can_play": self.can_play,
            "can_expand": self.can_expand,
            "plugin": self.plugin,
        }


@dataclass(frozen=True)
class BrowseResult:
    """What `browse_media` returns: the item browsed (for the root, a folder naming what the
    plugin offers), one page of its children, and the opaque cursor of the next page (None on
    the last page). `cache_ttl` (seconds), when set, replaces the plugin's `media_cache_ttl`
    for this page: 0 for what changes under the user's feet, such as a play queue."""

    item: MediaItem
    children: list[MediaItem] = field(default_factory=list)
    cursor: str | None = None
    cache_ttl: float | None = None


@dataclass(frozen=True)
class Principal:
    """Who is asking: the owner, an agent or an automation."""

    id: str
    name: str
    kind: str  # owner | agent | automation
    maturity: Maturity | None = None

    @property
    def is_owner(self) -> bool:
        return self.kind == "owner"

    @property
    def level(self) -> Level:
        """The highest level this principal satisfies."""
        if self.is_owner:
            return Level.OWNER
        return Level(int(self.maturity)) if self.maturity else Level.STUDENT

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "maturity": self.maturity.name if self.maturity else None,
        }
