"""The demo plugin: N virtual media players, for newcomers, tests and benchmarks.

    plugins:
      demo:
        players: 3          # or a list of room names

Each player has a playlist whose position advances with the hub's clock, volume, mute,
shuffle, repeat, sources and grouping (the leader's playback is mirrored to its members).
A small media library (hub_demo.library) can be browsed, searched and played by id; its
covers are served at /integrations/demo/art/<key>.svg. It keeps a fake credential in the
vault so the vault path is exercised like a real plugin's.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import voluptuous as vol
from aiohttp import web

from hub.plugin import (
    GROUP_ACTIONS,
    ActionSpec,
    BrowseResult,
    Device,
    InvalidRequest,
    Level,
    MediaItem,
    NotFound,
    PluginContext,
    PluginInfo,
    hookimpl,
    public_route,
    standard_actions,
)
from hub_demo.library import Library, cover_svg
from hub_demo.player import Player

ROOMS = ["Living Room", "Kitchen", "Bedroom", "Office", "Patio", "Bathroom", "Hallway", "Garage"]
MAX_PLAYERS = 256
CREDENTIAL = "api_key"


CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional("players", default=3): vol.Any(
            vol.All(int, vol.Range(min=1, max=MAX_PLAYERS)),
            vol.All([vol.All(str, vol.Length(min=1, max=64))], vol.Length(min=1, max=MAX_PLAYERS)),
        ),
        vol.Optional("latency", default=0.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=30)),
    },
    extra=vol.PREVENT_EXTRA,
)

ACTIONS: dict[str, ActionSpec] = {
    **standard_actions(),
    "volume_get": ActionSpec(
        name="volume_get", description="Read the volume (a harmless action for any agent).",
        required=Level.STUDENT),
}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "player"


def player_names(setting: int | list[str]) -> list[tuple[str, str]]:
    """(device id suffix, display name) for each configured player."""
    if isinstance(setting, int):
        return [(f"player_{i + 1}", ROOMS[i] if i < len(ROOMS) else f"Player {i + 1}")
                for i in range(setting)]
    seen: set[str] = set()
    out = []
    for name in setting:
        slug = base = _slug(name)
        n = 2
        while slug in seen:
            slug, n = f"{base}_{n}", n + 1
        seen.add(slug)
        out.append((slug, name))
    return out


class DemoPlugin:
    def __init__(self) -> None:
        self.players: dict[str, Player] = {}
        self.library = Library()
        self._timer: asyncio.Task | None = None

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo(
            description="Virtual media players: try the hub with no account and no hardware.",
            config_schema=CONFIG_SCHEMA,
            actions=ACTIONS,
            timeout=5.0,
        )

    @hookimpl
    def routes(self, ctx: PluginContext) -> list[web.RouteDef]:
        self.library = Library(lambda key: f"{ctx.hub_url}/integrations/{ctx.name}/art/{key}.svg")

        @public_route  # <img> tags send no bearer token; covers are no secret
        async def art(request: web.Request) -> web.Response:
            key = request.match_info["key"]
            title = self.library.art_title(key)
            if title is None:
                raise NotFound(f"no cover {key[:64]!r}")
            return web.Response(text=cover_svg(key, title), content_type="image/svg+xml",
                                headers={"Cache-Control": "public, max-age=86400"})

        return [web.get("/art/{key}.svg", art)]

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        # A fake credential, stored encrypted like a real plugin's account token.
        if await ctx.vault.get(CREDENTIAL) is None:
            await ctx.vault.set(CREDENTIAL, "demo-" + secrets.token_urlsafe(16))
        for suffix, name in player_names(ctx.config["players"]):
            device_id = f"{ctx.name}.{suffix}"
            self.players[device_id] = Player(device_id, name, ctx.clock)

    @hookimpl
    def discover(self, ctx: PluginContext) -> list[Device]:
        return [
            Device(
                id=p.device_id, name=p.name, actions=frozenset(ACTIONS),
                state=p.state, attributes={**p.attributes(), **self._artwork(p),
                                           "group_members": [p.device_id]},
                info={"manufacturer": "Hub", "model": "Demo Player", "sw_version": ctx.version},
            )
            for p in self.players.values()
        ]

    @hookimpl
    async def act(self, ctx: PluginContext, device: Device, action: str,
                  params: dict[str, Any]) -> Any:
        if ctx.config["latency"]:
            await ctx.clock.sleep(ctx.config["latency"])
        player = self.players[device.id]
        if action == "volume_get":
            return {"volume": player.volume}
        target = self._leader_of(player) if action in GROUP_ACTIONS else player
        changed = self._apply(ctx, target, player, action, params)
        if target.leader is None and action in GROUP_ACTIONS:
            for member in self._members(target)[1:]:
                member.copy_playback_from(target)
                changed.add(member.device_id)
        for device_id in changed | {target.device_id}:
            self._publish(ctx, self.players[device_id])
        self._reschedule(ctx)
        return None

    @hookimpl
    def affected_devices(self, ctx: PluginContext, device: Device, action: str,
                         params: dict[str, Any]) -> list[str] | None:
        """The players an action changes, from the groups as this plugin keeps them: a
        transport action on any member drives its whole group (it is handed to the leader);
        `join` regroups the device's group, the leader's and each new member's; `unjoin`
        changes the group the device leaves."""
        player = self.players.get(device.id)
        if player is None:
            return None
        group = self._group_ids(player)
        if action in GROUP_ACTIONS or action == "unjoin":
            return group
        if action == "join":
            targets = [params["leader"]] if "leader" in params else params["group_members"]
            for target in targets:
                other = self.players.get(target)
                group += self._group_ids(other) if other is not None else [target]
            return group
        return [device.id]

    def _group_ids(self, player: Player) -> list[str]:
        return [player.device_id] + [m.device_id for m in self._members(self._leader_of(player))
                                     if m is not player]

    def _apply(self, ctx: PluginContext, target: Player, acted_on: Player, action: str,
               params: dict[str, Any]) -> set[str]:
        """Apply one action; returns the ids of other players whose state changed."""
        if action in ("play", "pause", "stop", "next", "previous"):
            getattr(target, action)()
        elif action == "seek":
            target.seek(params["position"])
        elif action == "volume_set":
            target.volume = params["volume"]
        elif action == "volume_step":
            target.volume = max(0, min(100, target.volume + params["step"]))
        elif action == "mute":
            target.muted = params["muted"]
        elif action == "shuffle_set":
            target.shuffle = params["shuffle"]
        elif action == "repeat_set":
            target.repeat = params["repeat"]
        elif action == "play_media":
            target.play_media(self.library.tracks_for(params["media_id"]), params["enqueue"])
        elif action == "select_source":
            target.select_source(params["source"])
        elif action == "join":
            return self._join(acted_on, params)
        elif action == "unjoin":
            return self._unjoin(acted_on)
        return set()

    # -- grouping ------------------------------------------------------------------------------

    def _leader_of(self, player: Player) -> Player:
        return self.players[player.leader] if player.leader else player

    def _members(self, leader: Player) -> list[Player]:
        return [leader, *(p for p in self.players.values() if p.leader == leader.device_id)]

    def _join(self, player: Player, params: dict[str, Any]) -> set[str]:
        if "leader" in params:
            leader_id, members = params["leader"], [player.device_id]
        else:
            leader_id, members = player.device_id, params["group_members"]
        unknown = [d for d in [leader_id, *members] if d not in self.players]
        if unknown:
            raise InvalidRequest(f"not demo players: {', '.join(unknown)}", code="invalid_params")
        leader = self._leader_of(self.players[leader_id])
        changed = {leader.device_id}
        for member_id in members:
            member = self.players[member_id]
            if member is leader:
                continue
            changed |= self._unjoin(member)
            # A leader joining another group brings its members along.
            for follower in self._members(member)[1:]:
                follower.leader = leader.device_id
                follower.copy_playback_from(leader)
                changed.add(follower.device_id)
            member.leader = leader.device_id
            member.copy_playback_from(leader)
            changed.add(member_id)
        return changed

    def _unjoin(self, player: Player) -> set[str]:
        changed = {player.device_id}
        if player.leader:
            changed.add(player.leader)
            player.leader = None
            player.stop()
        else:
            members = self._members(player)[1:]
            if members:
                # The first member leads the rest, as Sonos does when a coordinator leaves.
                new_leader = members[0]
                new_leader.leader = None
                for member in members[1:]:
                    member.leader = new_leader.device_id
                changed |= {m.device_id for m in members}
        return changed

    # -- state and time ------------------------------------------------------------------------

    def _publish(self, ctx: PluginContext, player: Player) -> None:
        leader = self._leader_of(player)
        members = [m.device_id for m in self._members(leader)]
        ctx.update_device(player.device_id, state=player.state,
                          attributes={**player.attributes(), **self._artwork(player),
                                      "group_members": members,
                                      "group_leader": leader.device_id})

    def _artwork(self, player: Player) -> dict[str, Any]:
        """What plays, pictured: the library's cover as Home Assistant's `media_image_url`."""
        track = player.track
        try:
            url = self.library.item(track.media_id).thumbnail if track else None
        except NotFound:  # a stream or a URL played by id: no cover
            url = None
        return {"media_image_url": url}

    def _reschedule(self, ctx: PluginContext) -> None:
        """Sleep until the earliest track end among leaders, then advance those players."""
        if self._timer is not None:
            self._timer.cancel()
        waits = [r for p in self.players.values() if p.leader is None
                 and (r := p.remaining()) is not None]
        if waits:
            self._timer = ctx.spawn(self._track_end(ctx, min(waits)), name="track-end")

    async def _track_end(self, ctx: PluginContext, wait: float) -> None:
        await ctx.clock.sleep(wait + 0.001)
        self._timer = None
        for leader in [p for p in self.players.values() if p.leader is None]:
            remaining = leader.remaining()
            if remaining is not None and remaining <= 0.001:
                leader.next(track_ended=True)
                for member in self._members(leader):
                    if member is not leader:
                        member.copy_playback_from(leader)
                    self._publish(ctx, member)
        self._reschedule(ctx)

    # -- media library -------------------------------------------------------------------------

    @hookimpl
    async def browse_media(self, ctx: PluginContext, device: Device, item_id: str | None,
                           cursor: str | None) -> BrowseResult:
        if ctx.config["latency"]:
            await ctx.clock.sleep(ctx.config["latency"])
        return self.library.browse(item_id, cursor)

    @hookimpl
    async def search_media(self, ctx: PluginContext, query: str, types: frozenset[str] | None,
                           limit: int, device: Device | None) -> list[MediaItem]:
        if ctx.config["latency"]:
            await ctx.clock.sleep(ctx.config["latency"])
        return self.library.search(query, types, limit)

    @hookimpl
    async def status(self, ctx: PluginContext) -> dict[str, Any]:
        return {
            "players": len(self.players),
            "playing": sum(p.state == "playing" for p in self.players.values()),
            "credential": "stored in the vault" if await ctx.vault.get(CREDENTIAL) else "missing",
        }

    @hookimpl
    def shutdown(self, ctx: PluginContext) -> None:
        if self._timer is not None:
            self._timer.cancel()
