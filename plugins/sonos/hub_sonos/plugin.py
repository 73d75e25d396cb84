"""The Sonos plugin: hub hooks over SoCo (`hub.plugins` entry point `sonos`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable
from typing import Any

import soco.config
from soco import events_asyncio

from hub.plugin import (
    Device,
    DeviceUnavailable,
    HubError,
    InvalidRequest,
    NotFound,
    PluginContext,
    PluginInfo,
    UpstreamError,
    hookimpl,
)
from hub_sonos import discovery
from hub_sonos.actions import ACTIONS, COORDINATOR_ACTIONS
from hub_sonos.config import CONFIG_SCHEMA
from hub_sonos.speaker import (
    SonosSpeaker,
    device_id,
    hms,
    play_mode_attributes,
    play_mode_with,
)
from hub_sonos.topology import Topology, parse_zone_group_state

DISCOVERY_INTERVAL = 60.0
# Fan-out actions send one request per speaker at once; 32 workers keep a 32-speaker group
# to a single round trip. Overridable with the core's `max_workers` key.
MAX_WORKERS = 32
LISTENER_STOP_TIMEOUT = 5.0


class SonosPlugin:
    """Instantiated once per hub; keeps the speakers and the household topology."""

    def __init__(self) -> None:
        self.speakers: dict[str, SonosSpeaker] = {}  # by uid
        self.topology = Topology()
        self.paused_by_pause_all: list[str] = []
        self.discovery_errors: list[str] = []
        self._join_lock: asyncio.Lock | None = None
        self._saved_settings: dict[str, Any] = {}

    # -- hooks ------------------------------------------------------------------------------

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo(
            description="Sonos speakers on the local network, through SoCo.",
            config_schema=CONFIG_SCHEMA,
            actions=ACTIONS,
            discovery_interval=DISCOVERY_INTERVAL,
            max_workers=MAX_WORKERS,
            timeout=10.0,
        )

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        self._join_lock = asyncio.Lock()
        config = ctx.config
        # SoCo's settings are process-wide; the plugin owns them while the hub runs and puts
        # the previous values back at shutdown.
        settings = {
            "EVENTS_MODULE": events_asyncio,
            "REQUEST_TIMEOUT": config["request_timeout"],
            # We read the topology ourselves; SoCo must not wait for ZGT events in its polls.
            "ZGT_EVENT_FALLBACK": False,
            "EVENT_LISTENER_PORT": config["event_listener_port"],
            "EVENT_LISTENER_IP": config["listen_addr"],
            "EVENT_ADVERTISE_IP": config["advertise_addr"],
        }
        self._saved_settings = {k: getattr(soco.config, k) for k in settings}
        for key, value in settings.items():
            setattr(soco.config, key, value)
        if config["events"] and not events_asyncio.event_listener.is_running:
            # A fresh listener per hub: the old one's locks belong to a previous event loop,
            # and it read EVENT_LISTENER_PORT when the module was imported.
            events_asyncio.event_listener = events_asyncio.EventListener()
            events_asyncio.event_listener.requested_port_number = config["event_listener_port"]

    @hookimpl
    async def discover(self, ctx: PluginContext) -> list[Device]:
        found = await ctx.run_blocking(discovery.find_speakers, ctx.config)
        self.discovery_errors = found.errors[-10:]
        new: list[SonosSpeaker] = []
        returning: list[SonosSpeaker] = []
        for uid, zone in found.zones.items():
            speaker = self.speakers.get(uid)
            if speaker is None:
                speaker = SonosSpeaker(self, ctx, zone)
                self.speakers[uid] = speaker
                new.append(speaker)
            else:
                speaker.move_to(zone)
                if speaker.mode != "connecting" and (
                        not speaker.available or speaker.mode == "offline"):
                    speaker.mode = "connecting"  # one reconnect at a time
                    returning.append(speaker)
        for topology in found.topologies:
            self._apply_topology(ctx, topology)
        missing = [s for u, s in self.speakers.items() if u not in found.zones and s.available]
        # SSDP answers get lost; ask a missing speaker directly before calling it gone.
        probes = await asyncio.gather(
            *(s.call(discovery.read_topology, s.soco) for s in missing), return_exceptions=True)
        for speaker, probe in zip(missing, probes, strict=True):
            if isinstance(probe, Topology) and probe.zone(speaker.uid) is not None:
                self._apply_topology(ctx, probe, speaker.household_id)
            else:
                await self._vanished(ctx, speaker, "not seen by discovery")
        for speaker in returning:
            ctx.spawn(self._reconnect(ctx, speaker), name=f"reconnect-{speaker.uid}")
        infos = await asyncio.gather(
            *(speaker.call(discovery.speaker_info, speaker.soco) for speaker in new),
            return_exceptions=True)
        devices = []
        for speaker, info in zip(new, infos, strict=True):
            info = info if isinstance(info, dict) else {"manufacturer": "Sonos"}
            info["uid"] = speaker.uid
            devices.append(Device(
                id=speaker.device_id, name=speaker.name, actions=frozenset(ACTIONS),
                info=info,
                attributes={"model": info.get("model"), "sw_version": info.get("sw_version"),
                            **self._group_attributes(speaker.uid)}))
        return devices

    @hookimpl
    async def connect(self, ctx: PluginContext, device: Device) -> None:
        speaker = self._speaker_for(device.id)
        await speaker.connect()

    @hookimpl
    async def act(self, ctx: PluginContext, device: Device, action: str,
                  params: dict[str, Any]) -> Any:
        speaker = self._speaker_for(device.id)
        if action in COORDINATOR_ACTIONS:
            return await self._act_on_group(ctx, self._coordinator_of(speaker), action, params)
        if action == "volume_set":
            await speaker.call(setattr, speaker.soco, "volume", params["volume"])
            speaker.update(volume=params["volume"])
        elif action == "volume_step":
            volume = await speaker.call(speaker.soco.set_relative_volume, params["step"])
            speaker.update(volume=int(volume))
        elif action == "mute":
            await speaker.call(setattr, speaker.soco, "mute", params["muted"])
            speaker.update(muted=params["muted"])
        elif action in ("join", "unjoin"):
            return await self._group_change(ctx, speaker, action, params)
        elif action == "group_volume_set":
            return await self._group_volume(ctx, speaker, params["volume"])
        elif action == "pause_all":
            return await self._pause_all(ctx)
        elif action == "resume_all":
            return await self._resume_all(ctx)
        else:
            raise InvalidRequest(f"sonos does not know the action {action!r}")
        return None

    @hookimpl
    def status(self, ctx: PluginContext) -> dict[str, Any]:
        speakers = {s.device_id: s.status() for s in self.speakers.values()}
        modes = {s.mode for s in self.speakers.values()}
        if not speakers:
            mode = "none"
        elif modes == {"events"}:
            mode = "events"
        elif "events" in modes:
            mode = "mixed"
        else:
            mode = "polling" if "polling" in modes else next(iter(modes))
        listener = events_asyncio.event_listener
        data: dict[str, Any] = {
            "event_mode": mode,
            "polling": sorted(d for d, s in speakers.items() if s["mode"] == "polling"),
            "speakers": speakers,
            "event_listener": (f"{listener.ip_address}:{listener.port}"
                               if listener.is_running else None),
            "groups": [[device_id(u) for u in g.members] for g in self.topology.groups],
        }
        if self.discovery_errors:
            data["discovery_errors"] = self.discovery_errors
        return data

    @hookimpl
    async def shutdown(self, ctx: PluginContext) -> None:
        await asyncio.gather(*(s.disconnect("offline", "hub stopped")
                               for s in self.speakers.values()), return_exceptions=True)
        listener = events_asyncio.event_listener
        if listener.is_running or listener.site is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.async_stop(), LISTENER_STOP_TIMEOUT)
        for key, value in self._saved_settings.items():
            setattr(soco.config, key, value)

    # -- speakers and topology ----------------------------------------------------------------

    def _speaker_for(self, device_id_: str) -> SonosSpeaker:
        uid = device_id_.split(".", 1)[1] if "." in device_id_ else device_id_
        speaker = self.speakers.get(uid)
        if speaker is None:
            raise NotFound(f"no Sonos speaker {device_id_}", device=device_id_)
        return speaker

    def _coordinator_of(self, speaker: SonosSpeaker) -> SonosSpeaker:
        group = self.topology.group_of(speaker.uid)
        if group is None or group.coordinator == speaker.uid:
            return speaker
        coordinator = self.speakers.get(group.coordinator)
        if coordinator is None or not coordinator.available:
            raise DeviceUnavailable(
                f"{speaker.name} plays in a group whose coordinator is unavailable",
                device=speaker.device_id, coordinator=device_id(group.coordinator))
        return coordinator

    def _group_attributes(self, uid: str) -> dict[str, Any]:
        group = self.topology.group_of(uid)
        if group is None:
            return {"group_members": [device_id(uid)], "coordinator": device_id(uid)}
        return {"group_members": [device_id(u) for u in group.members],
                "coordinator": device_id(group.coordinator)}

    def _apply_topology(self, ctx: PluginContext, topology: Topology,
                        household_id: str | None = None) -> None:
        """Adopt a household's topology: replace the groups of the speakers it lists, update
        group attributes, and mark this household's speakers it no longer lists vanished."""
        listed = {z.uid for z in topology.zones}
        kept = tuple(g for g in self.topology.groups if not listed & set(g.members))
        kept_zones = tuple(z for z in self.topology.zones if z.uid not in listed)
        self.topology = Topology(kept + topology.groups, kept_zones + topology.zones)
        for uid, speaker in self.speakers.items():
            if ctx.device(speaker.device_id) is None:
                continue
            if uid in listed:
                ctx.update_device(speaker.device_id, attributes=self._group_attributes(uid))
            elif (household_id and speaker.household_id == household_id
                  and speaker.available):
                ctx.spawn(self._vanished(ctx, speaker, "left the household topology"),
                          name=f"vanished-{uid}")

    async def refresh_topology(self, speaker: SonosSpeaker) -> None:
        topology = await speaker.call(discovery.read_topology, speaker.soco)
        self._apply_topology(speaker.ctx, topology, speaker.household_id)

    def topology_event(self, speaker: SonosSpeaker, zone_group_state: str) -> None:
        try:
            topology = parse_zone_group_state(zone_group_state)
        except Exception:
            speaker.ctx.log.warning("%s: unreadable ZoneGroupState event", speaker.name)
            return
        self._apply_topology(speaker.ctx, topology, speaker.household_id)
        # A speaker coming back shows up in the topology before the next discovery round.
        for zone in topology.zones:
            known = self.speakers.get(zone.uid)
            if known is not None and not known.available and known.mode == "offline":
                known.mode = "connecting"
                known.move_to(zone)
                speaker.ctx.spawn(self._reconnect(speaker.ctx, known),
                                  name=f"reconnect-{zone.uid}")

    async def _vanished(self, ctx: PluginContext, speaker: SonosSpeaker, reason: str) -> None:
        ctx.update_device(speaker.device_id, available=False, reason=reason)
        await speaker.disconnect("offline", reason)

    async def _reconnect(self, ctx: PluginContext, speaker: SonosSpeaker) -> None:
        try:
            await speaker.connect()
        except Exception as err:
            speaker.mode = "offline"
            reason = getattr(err, "message", None) or f"{type(err).__name__}: {err}"
            ctx.update_device(speaker.device_id, available=False, reason=reason[:300])

    # -- actions ----------------------------------------------------------------------------

    def _group_speakers(self, speaker: SonosSpeaker) -> list[SonosSpeaker]:
        group = self.topology.group_of(speaker.uid)
        uids = group.members if group else (speaker.uid,)
        return [self.speakers[u] for u in uids if u in self.speakers]

    def _mirror_to_group(self, coordinator: SonosSpeaker, values: dict[str, Any]) -> None:
        # Members show their group's transport and media, as the Sonos app does.
        for member in self._group_speakers(coordinator):
            if member is not coordinator and member.available:
                member.update(**dict(values))

    async def _act_on_group(self, ctx: PluginContext, coordinator: SonosSpeaker, action: str,
                            params: dict[str, Any]) -> Any:
        device = coordinator.soco
        result: Any = None
        if action in ("play", "pause", "stop"):
            await coordinator.call(getattr(device, action))
            values: dict[str, Any] = {
                "state": {"play": "playing", "pause": "paused", "stop": "idle"}[action]}
            coordinator.update(**values)
        elif action in ("next", "previous"):
            await coordinator.call(getattr(device, action))
            values = await coordinator.refresh_media()
        elif action == "seek":
            await coordinator.call(device.seek, hms(params["position"]))
            values = await coordinator.refresh_media()
        elif action in ("shuffle_set", "repeat_set"):
            def set_mode() -> str:
                mode = play_mode_with(device.play_mode, shuffle=params.get("shuffle"),
                                      repeat=params.get("repeat"))
                device.play_mode = mode
                return mode

            mode = await coordinator.call(set_mode)
            values = play_mode_attributes(mode)
            coordinator.update(**values)
        elif action == "play_media":
            result = await coordinator.call(_play_media, device, params["media_id"],
                                            params.get("enqueue", "play"))
            values = await coordinator.refresh_media()
        else:  # pragma: no cover - COORDINATOR_ACTIONS and this switch are kept in step
            raise InvalidRequest(f"unknown action {action}")
        self._mirror_to_group(coordinator, values)
        return {"coordinator": coordinator.device_id, **(result or {})}

    async def _group_change(self, ctx: PluginContext, speaker: SonosSpeaker, action: str,
                            params: dict[str, Any]) -> Any:
        assert self._join_lock is not None
        async with self._join_lock:  # Sonos mishandles overlapping topology changes
            if action == "unjoin":
                await speaker.call(speaker.soco.unjoin)
                await self.refresh_topology(speaker)
                return None
            if "leader" in params:
                leader = self._resolve(params["leader"], "leader")
                if leader is speaker:
                    raise InvalidRequest("a speaker cannot join itself", param="leader")
                leader = self._coordinator_of(leader)
                await speaker.call(speaker.soco.join, leader.soco)
                await self.refresh_topology(leader)
                return {"coordinator": leader.device_id}
            leader = self._coordinator_of(speaker)
            members = [self._resolve(m, "group_members") for m in params["group_members"]]
            for member in members:
                if member is not leader:
                    await member.call(member.soco.join, leader.soco)
            await self.refresh_topology(leader)
            return {"coordinator": leader.device_id}

    def _resolve(self, ref: str, param: str) -> SonosSpeaker:
        uid = ref.split(".", 1)[1] if ref.startswith("sonos.") else ref
        speaker = self.speakers.get(uid)
        if speaker is None:
            raise InvalidRequest(f"{ref!r} is not a Sonos speaker this hub knows", param=param)
        if not speaker.available:
            raise DeviceUnavailable(f"{speaker.name} is unavailable", device=speaker.device_id)
        return speaker

    async def _fan_out(self, ctx: PluginContext, what: str,
                       calls: Iterable[tuple[SonosSpeaker, Awaitable[Any]]]) -> list[str]:
        """Run per-speaker calls at once; partial failure is a 502 listing who failed."""
        calls = list(calls)
        results = await asyncio.gather(*(c for _, c in calls), return_exceptions=True)
        done, failed = [], {}
        for (speaker, _), result in zip(calls, results, strict=True):
            if isinstance(result, BaseException):
                failed[speaker.device_id] = getattr(result, "message", str(result))
            else:
                done.append(speaker.device_id)
        if failed:
            raise UpstreamError(f"{what} failed on {len(failed)} of {len(calls)} speakers",
                                failed=failed, succeeded=done)
        return done

    async def _group_volume(self, ctx: PluginContext, speaker: SonosSpeaker,
                            volume: int) -> Any:
        members = [m for m in self._group_speakers(speaker) if m.available]

        async def set_one(member: SonosSpeaker) -> None:
            await member.call(setattr, member.soco, "volume", volume)
            member.update(volume=volume)

        done = await self._fan_out(ctx, "group_volume_set",
                                   ((m, set_one(m)) for m in members))
        return {"speakers": done}

    async def _pause_all(self, ctx: PluginContext) -> Any:
        coordinators = [
            s for s in self.speakers.values()
            if s.available and self._coordinator_of_or_none(s) is s
            and (ctx.device(s.device_id).state == "playing")]

        async def pause(coordinator: SonosSpeaker) -> None:
            await coordinator.call(coordinator.soco.pause)
            coordinator.update(state="paused")
            self._mirror_to_group(coordinator, {"state": "paused"})

        try:
            done = await self._fan_out(ctx, "pause_all", ((c, pause(c)) for c in coordinators))
        except UpstreamError as err:
            self.paused_by_pause_all = list(err.extra.get("succeeded", []))
            raise
        self.paused_by_pause_all = done
        return {"paused": done}

    async def _resume_all(self, ctx: PluginContext) -> Any:
        targets = [self.speakers[i.split(".", 1)[1]] for i in self.paused_by_pause_all
                   if i.split(".", 1)[1] in self.speakers]
        targets = [t for t in targets if t.available]

        async def resume(coordinator: SonosSpeaker) -> None:
            await coordinator.call(coordinator.soco.play)
            coordinator.update(state="playing")
            self._mirror_to_group(coordinator, {"state": "playing"})

        done = await self._fan_out(ctx, "resume_all", ((t, resume(t)) for t in targets))
        self.paused_by_pause_all = []
        return {"resumed": done}

    def _coordinator_of_or_none(self, speaker: SonosSpeaker) -> SonosSpeaker | None:
        try:
            return self._coordinator_of(speaker)
        except HubError:
            return None


def _play_media(device: Any, uri: str, enqueue: str) -> dict[str, Any]:
    """Blocking: play or enqueue a URI the way the Sonos app does."""
    if enqueue == "play":
        device.play_uri(uri)
        return {"enqueued": False}
    if enqueue == "replace":
        device.clear_queue()
        device.add_uri_to_queue(uri)
        device.play_from_queue(0)
        return {"enqueued": True, "queue_position": 1}
    if enqueue == "next":
        track = device.get_current_track_info()
        position = int(track.get("playlist_position") or 0) + 1
        index = device.add_uri_to_queue(uri, position=position)
        return {"enqueued": True, "queue_position": int(index)}
    index = device.add_uri_to_queue(uri)  # add: at the end
    return {"enqueued": True, "queue_position": int(index)}
