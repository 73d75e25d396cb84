"""One object per Sonos speaker: its SoCo instance, its event subscriptions, and how its
state becomes the hub's media_player vocabulary.

State arrives by UPnP events (AVTransport, RenderingControl, ZoneGroupTopology) through SoCo's
asyncio event listener. If subscribing fails, or no event arrives within `event_timeout`
seconds of subscribing, the speaker is polled every `poll_interval` instead, and the plugin's
status says so. Every blocking SoCo call goes through `hub_sonos.errors.soco_call`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from soco.core import PLAY_MODE_BY_MEANING, PLAY_MODES

from hub.plugin import PluginContext
from hub_sonos.discovery import make_soco
from hub_sonos.errors import soco_call
from hub_sonos.topology import Zone

if TYPE_CHECKING:
    import soco

    from hub_sonos.plugin import SonosPlugin

T = TypeVar("T")

TRANSPORT_STATES = {
    "PLAYING": "playing",
    "TRANSITIONING": "playing",
    "PAUSED_PLAYBACK": "paused",
    "STOPPED": "idle",
}
REPEAT_FROM_SOCO = {False: "off", True: "all", "ONE": "one"}
REPEAT_TO_SOCO = {v: k for k, v in REPEAT_FROM_SOCO.items()}
MEDIA_ATTRIBUTES = ("media_title", "media_artist", "media_album", "media_duration")
UNSUBSCRIBE_TIMEOUT = 2.0
RESUBSCRIBE_EVERY = 6  # polls between attempts to subscribe again


def device_id(uid: str) -> str:
    return f"sonos.{uid}"


def seconds(hms: str | None) -> int | None:
    """'0:03:07' -> 187; None for '', 'NOT_IMPLEMENTED' and other non-times."""
    if not hms or hms.count(":") != 2:
        return None
    try:
        h, m, s = (int(float(p)) for p in hms.split(":"))
    except ValueError:
        return None
    return h * 3600 + m * 60 + s


def hms(total: float) -> str:
    total = int(total)
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


def play_mode_attributes(play_mode: str) -> dict[str, Any]:
    shuffle, repeat = PLAY_MODES.get(play_mode, (False, False))
    return {"shuffle": shuffle, "repeat": REPEAT_FROM_SOCO[repeat]}


def play_mode_with(current: str, *, shuffle: bool | None = None,
                   repeat: str | None = None) -> str:
    cur_shuffle, cur_repeat = PLAY_MODES.get(current, (False, False))
    return PLAY_MODE_BY_MEANING[(
        cur_shuffle if shuffle is None else shuffle,
        cur_repeat if repeat is None else REPEAT_TO_SOCO[repeat])]


# -- blocking reads (run in the executor) -----------------------------------------------------

def read_state(device: soco.SoCo) -> dict[str, Any]:
    """Everything the device state shows, read with plain SOAP calls."""
    transport = device.get_current_transport_info()
    track = device.get_current_track_info()
    play_mode = device.avTransport.GetTransportSettings([("InstanceID", 0)])["PlayMode"]
    state = {
        "state": TRANSPORT_STATES.get(transport.get("current_transport_state", ""), "idle"),
        "volume": device.volume,
        "muted": bool(device.mute),
        **play_mode_attributes(play_mode),
        **track_attributes(track),
    }
    state["_household_id"] = device.household_id
    return state


def read_media(device: soco.SoCo) -> dict[str, Any]:
    transport = device.get_current_transport_info()
    return {
        "state": TRANSPORT_STATES.get(transport.get("current_transport_state", ""), "idle"),
        **track_attributes(device.get_current_track_info()),
    }


def track_attributes(track: dict[str, Any]) -> dict[str, Any]:
    return {
        "media_title": track.get("title") or None,
        "media_artist": track.get("artist") or None,
        "media_album": track.get("album") or None,
        "media_duration": seconds(track.get("duration")),
        "media_position": seconds(track.get("position")),
        "media_uri": track.get("uri") or None,
    }


class SonosSpeaker:
    """A speaker the hub knows; owns its SoCo instance, subscriptions and event mode."""

    def __init__(self, plugin: SonosPlugin, ctx: PluginContext, zone: Zone) -> None:
        self.plugin = plugin
        self.ctx = ctx
        self.uid = zone.uid
        self.name = zone.name
        self.device_id = device_id(zone.uid)
        self.soco = make_soco(zone.ip, zone.port)
        self.household_id: str | None = None
        self.subscriptions: list[Any] = []
        self.mode = "connecting"  # events | polling | connecting | offline
        self.mode_reason: str | None = None
        self.events_received = 0
        self.last_event_at: float | None = None
        self._watch_task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"<SonosSpeaker {self.name} {self.uid} {self.soco.base_url}>"

    @property
    def config(self) -> dict[str, Any]:
        return self.ctx.config

    @property
    def available(self) -> bool:
        device = self.ctx.device(self.device_id)
        return device is not None and device.available

    def move_to(self, zone: Zone) -> None:
        """A speaker seen at a new address (DHCP) gets a new SoCo instance."""
        if (zone.ip, zone.port) != (self.soco.ip_address, self.soco.port):
            self.soco = make_soco(zone.ip, zone.port)
        self.name = zone.name

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await soco_call(self.ctx, self.name, fn, *args, device_id=self.device_id)

    # -- state ------------------------------------------------------------------------------

    def update(self, **attributes: Any) -> None:
        state = attributes.pop("state", None)
        attributes.pop("_household_id", None)
        self.ctx.update_device(self.device_id, state=state, attributes=attributes)

    async def refresh(self) -> None:
        values = await self.call(read_state, self.soco)
        self.household_id = values.get("_household_id") or self.household_id
        self.update(**values)

    async def refresh_media(self) -> dict[str, Any]:
        values = await self.call(read_media, self.soco)
        self.update(**values)
        return values

    # -- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> None:
        await self.refresh()
        self.ctx.update_device(self.device_id, available=True)
        await self.plugin.refresh_topology(self)
        if self.config["events"]:
            await self.subscribe()
        else:
            self._set_mode("polling", "events are switched off (events: false)")
        self._start_watch()

    async def disconnect(self, mode: str = "offline", reason: str | None = None) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            self._watch_task = None
        await self.unsubscribe()
        self._set_mode(mode, reason)

    def _set_mode(self, mode: str, reason: str | None) -> None:
        changed = mode != self.mode
        self.mode, self.mode_reason = mode, reason
        if changed:
            self.ctx.log.info("%s: %s%s", self.name, mode, f" ({reason})" if reason else "")
            self.ctx.update_device(self.device_id, event_mode=mode)

    # -- events -----------------------------------------------------------------------------

    async def subscribe(self) -> None:
        self.last_event_at = None
        services = (self.soco.avTransport, self.soco.renderingControl,
                    self.soco.zoneGroupTopology)
        try:
            for service in services:
                sub = await service.subscribe(auto_renew=True, strict=True)
                sub.callback = self._on_event
                sub.auto_renew_fail = self._on_renew_failed
                self.subscriptions.append(sub)
        except Exception as err:
            await self.unsubscribe()
            self._set_mode("polling", f"subscribing failed: {type(err).__name__}: {err}"[:200])
            return
        self._set_mode("events", None)

    async def unsubscribe(self) -> None:
        subs, self.subscriptions = self.subscriptions, []
        for sub in subs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.unsubscribe(strict=False), UNSUBSCRIBE_TIMEOUT)

    def _on_event(self, event: Any) -> None:
        self.events_received += 1
        self.last_event_at = self.ctx.clock.monotonic()
        try:
            self._apply_event(event.service.service_type, event.variables)
        except Exception:
            self.ctx.log.warning("%s: could not apply %s event", self.name,
                                 event.service.service_type, exc_info=True)

    def _apply_event(self, service: str, variables: dict[str, Any]) -> None:
        if service == "AVTransport":
            values: dict[str, Any] = {}
            if "transport_state" in variables:
                values["state"] = TRANSPORT_STATES.get(variables["transport_state"], "idle")
            if "current_play_mode" in variables:
                values.update(play_mode_attributes(variables["current_play_mode"]))
            if "current_track_meta_data" in variables:
                meta = variables["current_track_meta_data"]
                values["media_title"] = getattr(meta, "title", None) or None
                values["media_artist"] = getattr(meta, "creator", None) or None
                values["media_album"] = getattr(meta, "album", None) or None
            if "current_track_duration" in variables:
                values["media_duration"] = seconds(variables["current_track_duration"])
            if "current_track_uri" in variables:
                values["media_uri"] = variables["current_track_uri"] or None
            self.update(**values)
        elif service == "RenderingControl":
            values = {}
            volume = variables.get("volume")
            if isinstance(volume, dict) and "Master" in volume:
                values["volume"] = int(volume["Master"])
            mute = variables.get("mute")
            if isinstance(mute, dict) and "Master" in mute:
                values["muted"] = mute["Master"] == "1"
            self.update(**values)
        elif service == "ZoneGroupTopology" and variables.get("zone_group_state"):
            self.plugin.topology_event(self, variables["zone_group_state"])

    def _on_renew_failed(self, exc: Exception) -> None:
        # SoCo calls this from its renew task; move to polling until rediscovery reconnects.
        self._set_mode("polling", f"renewing the subscription failed: {type(exc).__name__}")
        self.ctx.spawn(self.unsubscribe(), name=f"unsubscribe-{self.uid}")

    # -- watchdog and polling -----------------------------------------------------------------

    def _start_watch(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
        self._watch_task = self.ctx.spawn(self._watch(), name=f"watch-{self.uid}")

    async def _watch(self) -> None:
        clock = self.ctx.clock
        polls = 0
        while True:
            if self.mode == "events" and self.last_event_at is None:
                # Just subscribed: real speakers send a full-state event at once.
                await clock.sleep(self.config["event_timeout"])
                if self.mode == "events" and self.last_event_at is None:
                    await self.unsubscribe()
                    self._set_mode(
                        "polling", f"no event within {self.config['event_timeout']:g} s")
                continue
            await clock.sleep(self.config["poll_interval"])
            if self.mode != "polling":
                continue
            await self.poll_once()
            polls += 1
            # Events may work again (firewall fixed, speaker rebooted): try now and then.
            if self.config["events"] and polls % RESUBSCRIBE_EVERY == 0 and self.available:
                await self.subscribe()

    async def poll_once(self) -> None:
        try:
            await self.refresh()
            await self.plugin.refresh_topology(self)
        except Exception as err:
            reason = getattr(err, "message", None) or f"{type(err).__name__}: {err}"
            self.ctx.update_device(self.device_id, available=False, reason=reason)
            return
        if not self.available:
            self.ctx.update_device(self.device_id, available=True)

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "mode": self.mode,
                                "address": self.soco.base_url, "events": self.events_received,
                                "subscriptions": len(self.subscriptions)}
        if self.mode_reason:
            data["reason"] = self.mode_reason
        return data
