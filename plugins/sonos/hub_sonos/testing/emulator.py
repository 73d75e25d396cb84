"""A household of emulated Sonos speakers that real, unmodified SoCo can drive.

Each speaker is a small threaded HTTP server on loopback (127.0.0.2:1400, 127.0.0.3:1400, ...,
or one address with several ports) answering what SoCo 0.32 sends: the device description,
the SCPD documents, SOAP control for AVTransport, RenderingControl, GroupRenderingControl,
DeviceProperties and ZoneGroupTopology, and GENA SUBSCRIBE / renew / UNSUBSCRIBE with a NOTIFY
(LastChange XML, as real speakers send) on every state change. All speakers of a household
share one topology that join / unjoin change.

The servers run in their own threads, never on the caller's event loop: SoCo is blocking, so
a speaker served from the loop that waits for SoCo would deadlock.

Fault injection, per speaker: `latency` (seconds added to every answer), `go_offline()` /
`go_online()` (connection refused, and the speaker vanishes from the topology),
`fail(action, code)` (a UPnP SOAP fault), `answer_garbage(action)` (HTTP 200, not XML),
`events` = "normal" | "refuse" | "silent".

    python -m hub_sonos.testing.emulator --speakers 3
"""

from __future__ import annotations

import argparse
import collections
import http.client
import itertools
import logging
import queue
import secrets
import signal
import socket
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import quoteattr

from hub_sonos.testing import upnp_xml

log = logging.getLogger(__name__)

ROOMS = ("Living Room", "Kitchen", "Bedroom", "Office", "Bathroom", "Dining Room", "Study",
         "Garage", "Hall", "Patio", "Den", "Nursery")
MODELS = (("Sonos One", "S18"), ("Sonos Five", "S24"), ("Sonos Era 100", "S39"))
SOFTWARE_VERSION = "80.1-55014"
DEFAULT_TRACKS = (
    ("Blue in Green", "Miles Davis", "Kind of Blue", 337),
    ("So What", "Miles Davis", "Kind of Blue", 562),
    ("Naima", "John Coltrane", "Giant Steps", 261),
)
SUBSCRIPTION_TIMEOUT = 3600
MAX_LOGGED_REQUESTS = 2000
TRANSPORT_STATES = ("PLAYING", "PAUSED_PLAYBACK", "STOPPED", "TRANSITIONING")


def hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def parse_hms(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    if len(parts) != 3 or not all(p >= 0 for p in parts):
        raise ValueError(text)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


class UPnPFault(Exception):
    def __init__(self, code: int, description: str = "") -> None:
        super().__init__(f"UPnP error {code}: {description}")
        self.code = code
        self.description = description


@dataclass
class Track:
    title: str
    artist: str = ""
    album: str = ""
    uri: str = ""
    duration: int = 0

    def didl(self) -> str:
        return upnp_xml.didl_track(title=self.title, artist=self.artist, album=self.album,
                                   uri=self.uri, duration=hms(self.duration))


@dataclass
class _Subscription:
    sid: str
    service: str
    callback: str
    expires: float
    seq: int = 0


@dataclass
class RequestRecord:
    method: str
    path: str
    action: str | None
    at: float = field(default_factory=time.monotonic)


class EmulatedSpeaker:
    """One speaker: its own state, its HTTP server and its fault switches."""

    def __init__(self, household: Household, index: int, ip: str, port: int) -> None:
        self.household = household
        self.index = index
        self.ip = ip
        self.port = port
        self.mac = f"00:0E:58:{household.tag[:2]}:{index // 256:02X}:{index % 256:02X}"
        self.uid = "RINCON_" + self.mac.replace(":", "") + "01400"
        self.room = ROOMS[index % len(ROOMS)] + (f" {index // len(ROOMS) + 1}"
                                                  if index >= len(ROOMS) else "")
        self.model_name, self.model_number = MODELS[index % len(MODELS)]
        # State (guarded by household.lock)
        self.transport_state = "STOPPED"
        self.play_mode = "NORMAL"
        self.volume = 20
        self.muted = False
        self.queue: list[Track] = [
            Track(t, a, al, f"x-file-cifs://nas/music/{t.replace(' ', '%20')}.flac", d)
            for t, a, al, d in DEFAULT_TRACKS]
        self.track_index = 0
        self.position = 0
        self.direct: Track | None = None  # a URI played outside the queue
        self.subscriptions: dict[str, _Subscription] = {}
        # Fault switches (tests flip these directly)
        self.latency = 0.0
        self.events = "normal"  # normal | refuse | silent
        self.faults: dict[str, int] = {}
        self.garbage: set[str] = set()
        self.online = False
        self.requests: collections.deque[RequestRecord] = collections.deque(
            maxlen=MAX_LOGGED_REQUESTS)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<EmulatedSpeaker {self.room} {self.uid} {self.base_url}>"

    @property
    def base_url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def host(self) -> str:
        """What the plugin's `hosts:` option takes for this speaker."""
        return self.ip if self.port == 1400 else f"{self.ip}:{self.port}"

    @property
    def location(self) -> str:
        return f"{self.base_url}/xml/device_description.xml"

    # -- lifecycle ------------------------------------------------------------------------

    def _serve(self) -> None:
        server = _SpeakerServer((self.ip, self.port), _Handler)
        server.speaker = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"sonos-emulator-{self.ip}:{self.port}", daemon=True)
        self._thread.start()
        self.online = True

    def _close(self) -> None:
        self.online = False
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def go_offline(self) -> None:
        """Stop answering (connection refused) and vanish from the household topology."""
        self._close()
        with self.household.lock:
            self.subscriptions.clear()
            self.household._leave_group(self, vanish=True)
        self.household._topology_changed()

    def go_online(self) -> None:
        """Come back as a standalone group."""
        self._serve()
        with self.household.lock:
            self.household._vanished.discard(self.uid)
            self.household._groups.append([self])
        self.household._topology_changed()

    # -- fault injection ------------------------------------------------------------------

    def fail(self, action: str, code: int = 701) -> None:
        """Answer `action` (e.g. "Play", "SetVolume") with a UPnP fault until cleared."""
        self.faults[action] = code

    def answer_garbage(self, action: str) -> None:
        """Answer `action` with HTTP 200 and a body that is not XML, until cleared."""
        self.garbage.add(action)

    def clear_faults(self) -> None:
        self.faults.clear()
        self.garbage.clear()
        self.latency = 0.0
        self.events = "normal"

    # -- changes from "outside" (the Sonos app, a button on the speaker) ---------------------

    def press_play(self) -> None:
        with self.household.lock:
            self.coordinator._set_transport("PLAYING")

    def set_volume(self, volume: int) -> None:
        with self.household.lock:
            self.volume = max(0, min(100, volume))
        self._notify("RenderingControl")

    # -- derived state ----------------------------------------------------------------------

    @property
    def group(self) -> list[EmulatedSpeaker]:
        return self.household.group_of(self)

    @property
    def coordinator(self) -> EmulatedSpeaker:
        return self.group[0]

    @property
    def is_coordinator(self) -> bool:
        return self.coordinator is self

    def current_track(self) -> Track | None:
        if self.direct is not None:
            return self.direct
        if self.queue:
            return self.queue[min(self.track_index, len(self.queue) - 1)]
        return None

    def _set_transport(self, state: str) -> None:
        # Called on the coordinator; every member mirrors its transport, as on real speakers.
        self.transport_state = state
        for member in self.group:
            member._notify("AVTransport")

    # -- events -----------------------------------------------------------------------------

    def event_body(self, service: str) -> str | None:
        with self.household.lock:
            if service == "AVTransport":
                coord = self.coordinator
                track = coord.current_track()
                values = [
                    ("TransportState", coord.transport_state, None),
                    ("CurrentPlayMode", coord.play_mode, None),
                    ("CurrentCrossfadeMode", "0", None),
                    ("NumberOfTracks", str(len(coord.queue) if coord.direct is None else 1), None),
                    ("CurrentTrack", str(coord.track_index + 1 if track else 0), None),
                    ("CurrentTrackURI", track.uri if track else "", None),
                    ("CurrentTrackDuration", hms(track.duration) if track else "0:00:00", None),
                    ("CurrentTrackMetaData", track.didl() if track else "", None),
                    ("AVTransportURI", coord.av_transport_uri(for_member=self), None),
                ]
                return upnp_xml.propertyset(
                    {"LastChange": upnp_xml.last_change(upnp_xml.AVT_NS, values)})
            if service == "RenderingControl":
                values = [("Volume", str(self.volume), ch) for ch in ("Master", "LF", "RF")]
                values.append(("Mute", "1" if self.muted else "0", "Master"))
                return upnp_xml.propertyset(
                    {"LastChange": upnp_xml.last_change(upnp_xml.RCS_NS, values)})
            if service == "GroupRenderingControl":
                return upnp_xml.propertyset({
                    "GroupVolume": str(self.household.group_volume(self.coordinator)),
                    "GroupMute": "1" if all(m.muted for m in self.group) else "0",
                    "GroupVolumeChangeable": "1"})
            if service == "ZoneGroupTopology":
                return upnp_xml.propertyset({
                    "ZoneGroupState": self.household.zone_group_state(),
                    "ThirdPartyMediaServersX": "", "AvailableSoftwareUpdate": ""})
            if service == "DeviceProperties":
                return upnp_xml.propertyset({"ZoneName": self.room})
        return None

    def _notify(self, service: str, only_sid: str | None = None) -> None:
        if not self.online or self.events == "silent":
            return
        now = time.monotonic()
        with self.household.lock:
            for sid, sub in list(self.subscriptions.items()):
                if sub.expires < now:
                    del self.subscriptions[sid]
                    continue
                if sub.service != service or (only_sid and sid != only_sid):
                    continue
                self.household._notifier.send(self, sub)

    def av_transport_uri(self, for_member: EmulatedSpeaker) -> str:
        if for_member is not self:
            return f"x-rincon:{self.uid}"
        if self.direct is not None:
            return self.direct.uri
        return f"x-rincon-queue:{self.uid}#0"

    # -- SOAP -------------------------------------------------------------------------------

    def handle_soap(self, service: str, action: str, args: dict[str, str]) -> dict[str, object]:
        if action in self.faults:
            raise UPnPFault(self.faults[action], "injected fault")
        handler = getattr(self, f"_{service}_{action}", None)
        if handler is None:
            raise UPnPFault(401, "Invalid Action")
        changed: set[tuple[EmulatedSpeaker, str]] = set()
        with self.household.lock:
            result = handler(args, changed) or {}
        topology = any(svc == "ZoneGroupTopology" for _, svc in changed)
        for speaker, svc in changed:
            if svc != "ZoneGroupTopology":
                speaker._notify(svc)
        if topology:
            self.household._topology_changed()
        return result

    def _require_coordinator(self) -> EmulatedSpeaker:
        if not self.is_coordinator:
            raise UPnPFault(701, "Transition not available: not the group coordinator")
        return self

    def _transport_changed(self, changed: set) -> None:
        for member in self.group:
            changed.add((member, "AVTransport"))

    # AVTransport
    def _AVTransport_Play(self, args, changed):
        coord = self._require_coordinator()
        if coord.current_track() is None:
            raise UPnPFault(701, "Transition not available: nothing to play")
        coord.transport_state = "PLAYING"
        self._transport_changed(changed)

    def _AVTransport_Pause(self, args, changed):
        self._require_coordinator().transport_state = "PAUSED_PLAYBACK"
        self._transport_changed(changed)

    def _AVTransport_Stop(self, args, changed):
        self._require_coordinator().transport_state = "STOPPED"
        self.position = 0
        self._transport_changed(changed)

    def _step_track(self, step: int, changed) -> None:
        coord = self._require_coordinator()
        if coord.direct is not None or not coord.queue:
            raise UPnPFault(701, "Transition not available")
        index = coord.track_index + step
        if not 0 <= index < len(coord.queue):
            if coord.play_mode not in ("REPEAT_ALL", "SHUFFLE"):
                raise UPnPFault(711, "Illegal seek target")
            index %= len(coord.queue)
        coord.track_index, coord.position = index, 0
        self._transport_changed(changed)

    def _AVTransport_Next(self, args, changed):
        self._step_track(1, changed)

    def _AVTransport_Previous(self, args, changed):
        self._step_track(-1, changed)

    def _AVTransport_Seek(self, args, changed):
        coord = self._require_coordinator()
        unit, target = args.get("Unit"), args.get("Target", "")
        track = coord.current_track()
        if unit == "REL_TIME":
            try:
                seconds = parse_hms(target)
            except ValueError:
                raise UPnPFault(711, "Illegal seek target") from None
            if track is None or seconds > track.duration:
                raise UPnPFault(711, "Illegal seek target")
            coord.position = seconds
        elif unit == "TRACK_NR":
            if not target.isdigit() or not 1 <= int(target) <= len(coord.queue):
                raise UPnPFault(711, "Illegal seek target")
            coord.direct, coord.track_index, coord.position = None, int(target) - 1, 0
        else:
            raise UPnPFault(710, "Seek mode not supported")
        self._transport_changed(changed)

    def _AVTransport_GetTransportInfo(self, args, changed):
        return {"CurrentTransportState": self.coordinator.transport_state,
                "CurrentTransportStatus": "OK", "CurrentSpeed": "1"}

    def _AVTransport_GetPositionInfo(self, args, changed):
        coord = self.coordinator
        track = coord.current_track()
        if track is None:
            return {"Track": "0", "TrackDuration": "0:00:00", "TrackMetaData": "",
                    "TrackURI": "", "RelTime": "0:00:00", "AbsTime": "NOT_IMPLEMENTED",
                    "RelCount": "2147483647", "AbsCount": "2147483647"}
        return {"Track": str(coord.track_index + 1), "TrackDuration": hms(track.duration),
                "TrackMetaData": track.didl(), "TrackURI": track.uri,
                "RelTime": hms(coord.position), "AbsTime": "NOT_IMPLEMENTED",
                "RelCount": "2147483647", "AbsCount": "2147483647"}

    def _AVTransport_GetMediaInfo(self, args, changed):
        coord = self.coordinator
        return {"NrTracks": str(len(coord.queue)), "MediaDuration": "NOT_IMPLEMENTED",
                "CurrentURI": coord.av_transport_uri(for_member=self), "CurrentURIMetaData": "",
                "NextURI": "", "NextURIMetaData": "", "PlayMedium": "NETWORK",
                "RecordMedium": "NOT_IMPLEMENTED", "WriteStatus": "NOT_IMPLEMENTED"}

    def _AVTransport_GetTransportSettings(self, args, changed):
        return {"PlayMode": self.coordinator.play_mode, "RecQualityMode": "NOT_IMPLEMENTED"}

    def _AVTransport_SetPlayMode(self, args, changed):
        mode = args.get("NewPlayMode", "")
        if mode not in ("NORMAL", "REPEAT_ALL", "REPEAT_ONE", "SHUFFLE_NOREPEAT", "SHUFFLE",
                        "SHUFFLE_REPEAT_ONE"):
            raise UPnPFault(712, "Play mode not supported")
        self._require_coordinator().play_mode = mode
        self._transport_changed(changed)

    def _AVTransport_GetCurrentTransportActions(self, args, changed):
        return {"Actions": "Set, Stop, Pause, Play, X_DLNA_SeekTime, Next, Previous"}

    def _AVTransport_SetAVTransportURI(self, args, changed):
        uri = args.get("CurrentURI", "")
        if uri.startswith("x-rincon:"):
            leader = self.household.by_uid(uri[len("x-rincon:"):])
            if leader is None or leader is self:
                raise UPnPFault(701, "Transition not available: unknown group leader")
            for speaker in self.household.all_online():
                changed.add((speaker, "ZoneGroupTopology"))
            self.household._join(self, leader.coordinator)
            self._transport_changed(changed)
            changed.add((self, "AVTransport"))
            return None
        coord = self._require_coordinator()
        if uri.startswith("x-rincon-queue:"):
            coord.direct = None
        elif uri:
            title, artist, album = _didl_fields(args.get("CurrentURIMetaData", ""))
            coord.direct = Track(title or urllib.parse.unquote(uri.rsplit("/", 1)[-1]),
                                 artist, album, uri, 0)
        else:
            raise UPnPFault(714, "Illegal MIME-type")
        coord.transport_state, coord.position = "STOPPED", 0
        self._transport_changed(changed)
        return None

    def _AVTransport_AddURIToQueue(self, args, changed):
        coord = self._require_coordinator()
        uri = args.get("EnqueuedURI", "")
        if not uri:
            raise UPnPFault(714, "Illegal MIME-type")
        title, artist, album = _didl_fields(args.get("EnqueuedURIMetaData", ""))
        track = Track(title or urllib.parse.unquote(uri.rsplit("/", 1)[-1]), artist, album, uri, 0)
        position = int(args.get("DesiredFirstTrackNumberEnqueued") or 0)
        if args.get("EnqueueAsNext") == "1" and coord.queue:
            position = coord.track_index + 2
        if position <= 0 or position > len(coord.queue):
            coord.queue.append(track)
            position = len(coord.queue)
        else:
            coord.queue.insert(position - 1, track)
        self._transport_changed(changed)
        return {"FirstTrackNumberEnqueued": str(position), "NumTracksAdded": "1",
                "NewQueueLength": str(len(coord.queue))}

    def _AVTransport_RemoveAllTracksFromQueue(self, args, changed):
        coord = self._require_coordinator()
        coord.queue.clear()
        coord.track_index = coord.position = 0
        if coord.direct is None:
            coord.transport_state = "STOPPED"
        self._transport_changed(changed)

    def _AVTransport_BecomeCoordinatorOfStandaloneGroup(self, args, changed):
        for speaker in self.household.all_online():
            changed.add((speaker, "ZoneGroupTopology"))
        for member in self.group:
            changed.add((member, "AVTransport"))
        was_member = not self.is_coordinator
        self.household._leave_group(self)
        self.household._groups.append([self])
        if was_member:
            self.transport_state = "STOPPED"
        changed.add((self, "AVTransport"))
        return {"DelegatedGroupCoordinatorID": "", "NewGroupID": f"{self.uid}:1"}

    # RenderingControl
    def _RenderingControl_GetVolume(self, args, changed):
        return {"CurrentVolume": str(self.volume)}

    def _RenderingControl_SetVolume(self, args, changed):
        try:
            volume = int(args.get("DesiredVolume", ""))
        except ValueError:
            raise UPnPFault(402, "Invalid Args") from None
        self.volume = max(0, min(100, volume))
        changed.add((self, "RenderingControl"))
        changed.add((self.coordinator, "GroupRenderingControl"))

    def _RenderingControl_SetRelativeVolume(self, args, changed):
        try:
            step = int(args.get("Adjustment", ""))
        except ValueError:
            raise UPnPFault(402, "Invalid Args") from None
        self.volume = max(0, min(100, self.volume + step))
        changed.add((self, "RenderingControl"))
        return {"NewVolume": str(self.volume)}

    def _RenderingControl_GetMute(self, args, changed):
        return {"CurrentMute": "1" if self.muted else "0"}

    def _RenderingControl_SetMute(self, args, changed):
        self.muted = args.get("DesiredMute") in ("1", "true", "True")
        changed.add((self, "RenderingControl"))

    # GroupRenderingControl (on the coordinator, like real speakers)
    def _GroupRenderingControl_SnapshotGroupVolume(self, args, changed):
        self._require_coordinator()

    def _GroupRenderingControl_GetGroupVolume(self, args, changed):
        return {"CurrentVolume": str(self.household.group_volume(self._require_coordinator()))}

    def _GroupRenderingControl_SetGroupVolume(self, args, changed):
        coord = self._require_coordinator()
        try:
            target = max(0, min(100, int(args.get("DesiredVolume", ""))))
        except ValueError:
            raise UPnPFault(402, "Invalid Args") from None
        self.household.scale_group_volume(coord, target)
        for member in coord.group:
            changed.add((member, "RenderingControl"))
        changed.add((coord, "GroupRenderingControl"))

    def _GroupRenderingControl_SetRelativeGroupVolume(self, args, changed):
        coord = self._require_coordinator()
        try:
            step = int(args.get("Adjustment", ""))
        except ValueError:
            raise UPnPFault(402, "Invalid Args") from None
        target = max(0, min(100, self.household.group_volume(coord) + step))
        self.household.scale_group_volume(coord, target)
        for member in coord.group:
            changed.add((member, "RenderingControl"))
        return {"NewVolume": str(self.household.group_volume(coord))}

    def _GroupRenderingControl_GetGroupMute(self, args, changed):
        coord = self._require_coordinator()
        return {"CurrentMute": "1" if all(m.muted for m in coord.group) else "0"}

    def _GroupRenderingControl_SetGroupMute(self, args, changed):
        coord = self._require_coordinator()
        for member in coord.group:
            member.muted = args.get("DesiredMute") == "1"
            changed.add((member, "RenderingControl"))

    # DeviceProperties
    def _DeviceProperties_GetHouseholdID(self, args, changed):
        return {"CurrentHouseholdID": self.household.household_id}

    def _DeviceProperties_GetZoneInfo(self, args, changed):
        return {"SerialNumber": f"{self.mac.replace(':', '-')}:A",
                "SoftwareVersion": SOFTWARE_VERSION,
                "DisplaySoftwareVersion": "16.4", "HardwareVersion": "1.8.1.2-1",
                "IPAddress": self.ip, "MACAddress": self.mac}

    def _DeviceProperties_GetZoneAttributes(self, args, changed):
        return {"CurrentZoneName": self.room, "CurrentIcon": "x-rincon-roomicon:living",
                "CurrentConfiguration": "1", "CurrentTargetRoomName": self.room}

    def _DeviceProperties_GetLEDState(self, args, changed):
        return {"CurrentLEDState": "On"}

    def _DeviceProperties_GetButtonLockState(self, args, changed):
        return {"CurrentButtonLockState": "Off"}

    # ZoneGroupTopology
    def _ZoneGroupTopology_GetZoneGroupState(self, args, changed):
        return {"ZoneGroupState": self.household.zone_group_state()}

    def _ZoneGroupTopology_GetZoneGroupAttributes(self, args, changed):
        coord = self.coordinator
        return {"CurrentZoneGroupName": coord.room, "CurrentZoneGroupID": f"{coord.uid}:1",
                "CurrentZonePlayerUUIDsInGroup": ",".join(m.uid for m in self.group),
                "CurrentMuseHouseholdId": self.household.household_id}

    # AlarmClock
    def _AlarmClock_ListAlarms(self, args, changed):
        return {"CurrentAlarmList": '<Alarms version="1"></Alarms>',
                "CurrentAlarmListVersion": "RINCON_0:1"}


def _didl_fields(didl: str) -> tuple[str, str, str]:
    if not didl:
        return "", "", ""
    try:
        root = ET.fromstring(didl)
    except ET.ParseError:
        return "", "", ""
    dc, upnp = "{http://purl.org/dc/elements/1.1/}", "{urn:schemas-upnp-org:metadata-1-0/upnp/}"
    return (root.findtext(f".//{dc}title") or "", root.findtext(f".//{dc}creator") or "",
            root.findtext(f".//{upnp}album") or "")


class _SpeakerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    speaker: EmulatedSpeaker


class _Handler(BaseHTTPRequestHandler):
    server: _SpeakerServer
    protocol_version = "HTTP/1.1"
    server_version = "Linux UPnP/1.0 Sonos/80.1-55014 (ZPS1)"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    @property
    def speaker(self) -> EmulatedSpeaker:
        return self.server.speaker

    def _begin(self, action: str | None = None) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.speaker.requests.append(RequestRecord(self.command, self.path, action))
        return body

    def _send(self, status: int, body: str = "", headers: dict[str, str] | None = None,
              content_type: str = 'text/xml; charset="utf-8"') -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    @contextmanager
    def _tracked(self) -> Iterator[None]:
        household = self.speaker.household
        household._enter()
        try:
            if self.speaker.latency:
                time.sleep(self.speaker.latency)
            yield
        finally:
            household._leave()

    def do_GET(self) -> None:
        with self._tracked():
            self._begin()
            speaker = self.speaker
            path = self.path.split("?", 1)[0]
            if path == "/xml/device_description.xml":
                self._send(200, upnp_xml.device_description(
                    uid=speaker.uid, room=speaker.room, model_name=speaker.model_name,
                    model_number=speaker.model_number, software_version=SOFTWARE_VERSION,
                    hardware_version="1.8.1.2-1", serial=f"{speaker.mac.replace(':', '-')}:A",
                    display_version="16.4"))
                return
            if path.startswith("/xml/") and path.endswith("1.xml"):
                doc = upnp_xml.scpd(path[len("/xml/"):-len("1.xml")])
                if doc is not None:
                    self._send(200, doc)
                    return
            self._send(404, "not found", content_type="text/plain")

    def do_POST(self) -> None:
        with self._tracked():
            service = upnp_xml.CONTROL_URLS.get(self.path)
            soap_action = self.headers.get("SOAPACTION", "").strip('"')
            action = soap_action.rsplit("#", 1)[-1] if "#" in soap_action else None
            body = self._begin(action)
            if service is None or action is None:
                self._send(404, "not found", content_type="text/plain")
                return
            if action in self.speaker.garbage:
                self._send(200, "<<this is not SOAP", content_type="text/xml")
                return
            try:
                args = _soap_args(body)
                out = self.speaker.handle_soap(service, action, args)
            except UPnPFault as fault:
                self._send(500, upnp_xml.soap_fault(fault.code, fault.description))
                return
            except ET.ParseError:
                self._send(500, upnp_xml.soap_fault(402, "Invalid Args"))
                return
            self._send(200, upnp_xml.soap_response(service, action, out))

    def do_SUBSCRIBE(self) -> None:
        with self._tracked():
            self._begin("SUBSCRIBE")
            speaker = self.speaker
            service = upnp_xml.EVENT_URLS.get(self.path)
            if service is None:
                self._send(404)
                return
            if speaker.events == "refuse":
                self._send(503)
                return
            requested = self.headers.get("TIMEOUT", "")
            seconds = SUBSCRIPTION_TIMEOUT
            if requested.lower().startswith("second-") and requested[7:].isdigit():
                seconds = int(requested[7:])
            seconds = min(seconds, speaker.household.max_subscription_timeout)
            sid = self.headers.get("SID")
            household = speaker.household
            with household.lock:
                if sid:  # renewal
                    sub = speaker.subscriptions.get(sid)
                    if sub is None or sub.service != service:
                        self._send(412)
                        return
                    sub.expires = time.monotonic() + seconds
                    household.renewals += 1
                else:
                    callback = self.headers.get("CALLBACK", "").strip()
                    if self.headers.get("NT") != "upnp:event" or not callback.startswith("<"):
                        self._send(412)
                        return
                    sid = f"uuid:{speaker.uid}_sub{next(household._sid_counter):010d}"
                    sub = _Subscription(sid, service, callback.strip("<>").split(">")[0],
                                        time.monotonic() + seconds)
                    speaker.subscriptions[sid] = sub
                    household.subscribes += 1
                    # The initial event carries the full state, as the UPnP spec requires.
                    household._notifier.send(speaker, sub, delay=household.initial_event_delay)
            self._send(200, headers={"SID": sid, "TIMEOUT": f"Second-{seconds}",
                                     "Server": self.server_version})

    def do_UNSUBSCRIBE(self) -> None:
        with self._tracked():
            self._begin("UNSUBSCRIBE")
            sid = self.headers.get("SID", "")
            with self.speaker.household.lock:
                found = self.speaker.subscriptions.pop(sid, None)
            self._send(200 if found else 412)


def _soap_args(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    envelope_body = root.find(f"{{{upnp_xml.SOAP_ENV}}}Body")
    if envelope_body is None or len(envelope_body) == 0:
        raise UPnPFault(401, "Invalid Action")
    return {child.tag: child.text or "" for child in envelope_body[0]}


class _Notifier:
    """Delivers NOTIFY requests from worker threads; one subscription always goes to the same
    worker so its events arrive in SEQ order."""

    def __init__(self, workers: int = 4) -> None:
        self._queues: list[queue.Queue] = [queue.Queue() for _ in range(workers)]
        self._threads = [
            threading.Thread(target=self._run, args=(q,), daemon=True,
                             name=f"sonos-emulator-notify-{i}")
            for i, q in enumerate(self._queues)]
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        for q in self._queues:
            q.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def send(self, speaker: EmulatedSpeaker, sub: _Subscription, delay: float = 0.0) -> None:
        # The body is rendered when delivered, so a burst of changes still ends with the
        # latest state; SEQ is taken now so numbering follows the changes.
        seq = sub.seq
        sub.seq += 1
        self._queues[hash(sub.sid) % len(self._queues)].put(
            (time.monotonic() + delay, speaker, sub, seq))

    def _run(self, q: queue.Queue) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            due, speaker, sub, seq = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 1.0))
            if speaker.events == "silent" or sub.sid not in speaker.subscriptions:
                continue
            body = speaker.event_body(sub.service)
            if body is not None:
                self._deliver(sub, seq, body)

    def _deliver(self, sub: _Subscription, seq: int, body: str) -> None:
        url = urllib.parse.urlsplit(sub.callback)
        data = body.encode()
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=3)
            try:
                conn.request("NOTIFY", url.path or "/", body=data, headers={
                    "Content-Type": 'text/xml; charset="utf-8"', "NT": "upnp:event",
                    "NTS": "upnp:propchange", "SID": sub.sid, "SEQ": str(seq),
                    "Content-Length": str(len(data))})
                conn.getresponse().read()
            finally:
                conn.close()
            self.delivered += 1
        except OSError as exc:
            self.failed += 1
            log.debug("NOTIFY to %s failed: %s", sub.callback, exc)


class Household:
    """N emulated speakers of one household sharing one topology.

    `host` is the first address; with `ports=False` the speakers take consecutive addresses
    (127.0.0.2, 127.0.0.3, ...) on `port`, with `ports=True` they share `host` on consecutive
    ports. `grouped=True` starts them all in one group led by the first.
    """

    def __init__(self, speakers: int = 3, *, host: str = "127.0.0.2", port: int = 1400,
                 ports: bool = False, grouped: bool = False,
                 max_subscription_timeout: int = SUBSCRIPTION_TIMEOUT,
                 initial_event_delay: float = 0.05) -> None:
        if not 1 <= speakers <= 250:
            raise ValueError("between 1 and 250 speakers")
        self.tag = secrets.token_hex(1).upper()
        self.household_id = "Sonos_" + secrets.token_urlsafe(18).replace("-", "x")
        self.lock = threading.RLock()
        self.max_subscription_timeout = max_subscription_timeout
        self.initial_event_delay = initial_event_delay
        first = [int(p) for p in host.split(".")]
        self.speakers: list[EmulatedSpeaker] = []
        for i in range(speakers):
            if ports:
                ip, p = host, port + i
            else:
                ip, p = ".".join(map(str, [*first[:3], first[3] + i])), port
            self.speakers.append(EmulatedSpeaker(self, i, ip, p))
        self._groups: list[list[EmulatedSpeaker]] = (
            [list(self.speakers)] if grouped else [[s] for s in self.speakers])
        self._vanished: set[str] = set()
        self._sid_counter = itertools.count(1)
        self._notifier = _Notifier()
        self._in_flight = 0
        self.max_in_flight = 0
        self.subscribes = 0
        self.renewals = 0
        self._topology_version = 1

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Household:
        self._notifier.start()
        try:
            for speaker in self.speakers:
                speaker._serve()
        except OSError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for speaker in self.speakers:
            speaker._close()
        self._notifier.stop()

    def __enter__(self) -> Household:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- topology ---------------------------------------------------------------------------

    def by_uid(self, uid: str) -> EmulatedSpeaker | None:
        return next((s for s in self.speakers if s.uid == uid and s.online), None)

    def all_online(self) -> list[EmulatedSpeaker]:
        return [s for s in self.speakers if s.online]

    def group_of(self, speaker: EmulatedSpeaker) -> list[EmulatedSpeaker]:
        with self.lock:
            for group in self._groups:
                if speaker in group:
                    return group
        return [speaker]

    @property
    def groups(self) -> list[list[EmulatedSpeaker]]:
        with self.lock:
            return [list(g) for g in self._groups]

    def _leave_group(self, speaker: EmulatedSpeaker, vanish: bool = False) -> None:
        for group in self._groups:
            if speaker in group:
                group.remove(speaker)
        self._groups = [g for g in self._groups if g]
        if vanish:
            self._vanished.add(speaker.uid)

    def _join(self, speaker: EmulatedSpeaker, leader: EmulatedSpeaker) -> None:
        self._leave_group(speaker)
        self.group_of(leader).append(speaker)

    def _topology_changed(self) -> None:
        with self.lock:
            self._topology_version += 1
        for speaker in self.all_online():
            speaker._notify("ZoneGroupTopology")

    def group_volume(self, coordinator: EmulatedSpeaker) -> int:
        members = coordinator.group
        return round(sum(m.volume for m in members) / len(members))

    def scale_group_volume(self, coordinator: EmulatedSpeaker, target: int) -> None:
        # Like real speakers: keep the members' relative levels, move their average.
        members = coordinator.group
        current = self.group_volume(coordinator)
        for member in members:
            if current == 0:
                member.volume = target
            else:
                member.volume = max(0, min(100, round(member.volume * target / current)))

    def zone_group_state(self) -> str:
        with self.lock:
            groups = []
            for group in self._groups:
                coord = group[0]
                members = "".join(
                    f"<ZoneGroupMember UUID={quoteattr(m.uid)} Location={quoteattr(m.location)} "
                    f"ZoneName={quoteattr(m.room)} Icon=\"x-rincon-roomicon:living\" "
                    f"Configuration=\"1\" SoftwareVersion=\"{SOFTWARE_VERSION}\" "
                    f"SWGen=\"2\" MinCompatibleVersion=\"79.0-00000\" "
                    f"LegacyCompatibleVersion=\"58.0-00000\" BootSeq=\"{m.index + 10}\" "
                    f"TVConfigurationError=\"0\" HdmiCecAvailable=\"0\" WirelessMode=\"0\" "
                    f"HasConfiguredSSID=\"1\" ChannelFreq=\"2437\" BehindWifiExtender=\"0\" "
                    f"WifiEnabled=\"1\" Orientation=\"0\" RoomCalibrationState=\"4\" "
                    f"SecureRegState=\"3\" VoiceConfigState=\"0\" MicEnabled=\"0\" "
                    f"AirPlayEnabled=\"0\" IdleState=\"1\" MoreInfo=\"\"/>"
                    for m in group)
                groups.append(f"<ZoneGroup Coordinator={quoteattr(coord.uid)} "
                              f"ID=\"{coord.uid}:{self._topology_version}\">{members}</ZoneGroup>")
            vanished = "".join(
                f"<Device UUID={quoteattr(uid)} ZoneName=\"\" Reason=\"powered off\"/>"
                for uid in sorted(self._vanished))
            return (f"<ZoneGroupState><ZoneGroups>{''.join(groups)}</ZoneGroups>"
                    f"<VanishedDevices>{vanished}</VanishedDevices></ZoneGroupState>")

    # -- statistics -------------------------------------------------------------------------

    def _enter(self) -> None:
        with self.lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self.lock:
            self._in_flight -= 1

    def reset_stats(self) -> None:
        with self.lock:
            self.max_in_flight = 0


def free_loopback_block(speakers: int, *, port: int = 1400, attempts: int = 50) -> str:
    """A first address 127.a.b.2 such that 127.a.b.2 .. 127.a.b.(speakers+1) are all free on
    `port`, so concurrent test runs on one machine do not collide."""
    for _ in range(attempts):
        a, b = 100 + secrets.randbelow(150), secrets.randbelow(250)
        addresses = [f"127.{a}.{b}.{2 + i}" for i in range(speakers)]
        socks = []
        try:
            for address in addresses:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind((address, port))
            return addresses[0]
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise OSError("no free loopback block found")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hub_sonos.testing.emulator",
        description="Run emulated Sonos speakers on loopback for SoCo and the hub.")
    parser.add_argument("--speakers", type=int, default=3)
    parser.add_argument("--host", default="127.0.0.2",
                        help="first address (default 127.0.0.2; the next take .3, .4, ...)")
    parser.add_argument("--port", type=int, default=1400)
    parser.add_argument("--ports", action="store_true",
                        help="one address, consecutive ports (needs soco >= 0.32)")
    parser.add_argument("--grouped", action="store_true", help="start as one group")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: until interrupted)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    household = Household(args.speakers, host=args.host, port=args.port, ports=args.ports,
                          grouped=args.grouped)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with household:
        for speaker in household.speakers:
            speaker.latency = args.latency
            print(f"speaker: {speaker.room} {speaker.uid} {speaker.host}", flush=True)
        print(f"hosts: {', '.join(s.host for s in household.speakers)}", flush=True)
        print("ready", flush=True)
        stop.wait(args.duration)
    return 0


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        raise SystemExit(main())
