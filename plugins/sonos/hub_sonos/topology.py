"""The household topology (which speaker plays in which group), read from ZoneGroupState.

The plugin keeps its own copy, parsed from GetZoneGroupState answers and ZoneGroupTopology
events, so group membership in device state never depends on SoCo's cache timing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Zone:
    uid: str
    name: str
    ip: str
    port: int


@dataclass(frozen=True)
class Group:
    coordinator: str  # uid
    members: tuple[str, ...]  # uids, coordinator first


@dataclass(frozen=True)
class Topology:
    groups: tuple[Group, ...] = ()
    zones: tuple[Zone, ...] = ()  # visible zones only

    def group_of(self, uid: str) -> Group | None:
        return next((g for g in self.groups if uid in g.members), None)

    def zone(self, uid: str) -> Zone | None:
        return next((z for z in self.zones if z.uid == uid), None)


def parse_zone_group_state(text: str) -> Topology:
    """Parse the ZoneGroupState XML (modern and pre-10.1 shapes); invisible members (bridges,
    stereo-pair slaves) are left out."""
    root = ET.fromstring(text)
    groups_parent = root.find("ZoneGroups")
    group_elements = (groups_parent if groups_parent is not None else root).findall("ZoneGroup")
    groups, zones = [], []
    for element in group_elements:
        coordinator = element.get("Coordinator", "")
        members = []
        for member in element.findall("ZoneGroupMember"):
            uid = member.get("UUID", "")
            if not uid or member.get("Invisible") == "1" or member.get("IsZoneBridge") == "1":
                continue
            url = urlsplit(member.get("Location", ""))
            zones.append(Zone(uid, member.get("ZoneName", uid), url.hostname or "",
                              url.port or 1400))
            members.append(uid)
        if coordinator in members:
            members.remove(coordinator)
            groups.append(Group(coordinator, (coordinator, *members)))
        elif members:
            groups.append(Group(members[0], tuple(members)))
    return Topology(tuple(groups), tuple(zones))
