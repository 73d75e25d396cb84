"""Finding speakers (blocking; called through the executor).

Three sources, merged by speaker uid: static `hosts` (for Docker and VLANs where multicast does
not reach), a TCP scan of `scan_networks` on port 1400, and SSDP through SoCo when `discovery`
is on. Any one reachable speaker reports its whole household in ZoneGroupState, so the
topology of every speaker that answered is the list of speakers seen.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import soco
import soco.discovery

from hub_sonos.topology import Topology, Zone, parse_zone_group_state

log = logging.getLogger(__name__)

SSDP_TIMEOUT = 3.0
SCAN_TIMEOUT = 0.5


def make_soco(ip: str, port: int = 1400) -> soco.SoCo:
    return soco.SoCo(ip) if port == 1400 else soco.SoCo(ip, port)


def split_host(host: str) -> tuple[str, int]:
    ip, _, port = host.partition(":")
    return ip, int(port or 1400)


def read_topology(device: soco.SoCo) -> Topology:
    """Ask one speaker for its household's ZoneGroupState. SoCo's shared cache is fed the
    same answer so its coordinator checks agree with ours straight away."""
    payload = device.zoneGroupTopology.GetZoneGroupState()["ZoneGroupState"]
    with suppress(Exception):
        device.zone_group_state.process_payload(payload, "poll", device.ip_address)
    return parse_zone_group_state(payload)


@dataclass
class Found:
    zones: dict[str, Zone] = field(default_factory=dict)
    topologies: list[Topology] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, topology: Topology) -> None:
        self.topologies.append(topology)
        for zone in topology.zones:
            self.zones.setdefault(zone.uid, zone)


def find_speakers(config: dict[str, Any]) -> Found:
    found = Found()
    entry_points: list[soco.SoCo] = []
    for host in config.get("hosts") or ():
        ip, port = split_host(host)
        entry_points.append(make_soco(ip, port))
    if config.get("scan_networks"):
        try:
            scanned = soco.discovery.scan_network(
                networks_to_scan=list(config["scan_networks"]), scan_timeout=SCAN_TIMEOUT,
                max_threads=32, include_invisible=False)
            entry_points.extend(sorted(scanned or (), key=lambda s: s.ip_address))
        except Exception as err:
            found.errors.append(f"network scan: {type(err).__name__}: {err}")
    if config.get("discovery"):
        try:
            zones = soco.discover(timeout=SSDP_TIMEOUT,
                                  interface_addr=config.get("interface_addr"))
            entry_points.extend(sorted(zones or (), key=lambda s: s.ip_address))
        except Exception as err:
            found.errors.append(f"SSDP discovery: {type(err).__name__}: {err}")
    asked: set[str] = set()
    for device in entry_points:
        if device.base_url in asked:
            continue
        # One answer per household is enough; skip speakers an earlier answer listed.
        if any((z.ip, z.port) == (device.ip_address, device.port)
               for z in found.zones.values()):
            continue
        asked.add(device.base_url)
        try:
            found.add(read_topology(device))
        except Exception as err:
            found.errors.append(f"{device.base_url}: {type(err).__name__}: {err}")
            log.debug("speaker %s did not answer discovery: %s", device.base_url, err)
    return found


def speaker_info(device: soco.SoCo) -> dict[str, Any]:
    info = device.get_speaker_info(refresh=True)
    return {
        "manufacturer": "Sonos",
        "model": info.get("model_name"),
        "model_number": info.get("model_number"),
        "sw_version": info.get("software_version"),
        "hw_version": info.get("hardware_version"),
        "mac_address": info.get("mac_address"),
    }
