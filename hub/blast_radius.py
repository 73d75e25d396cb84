"""An action's blast radius: every device it changes, on which the governance gate decides.

The owning plugin declares it with the `affected_devices` hook (synchronous, no I/O). A plugin
that does not implement it (or answers None) gets the core's derivation from the standard
vocabulary:

* a group-wide transport action (play, pause, seek, play_media, ...) on a grouped device
  changes every member of its group (`group_members`);
* `join` changes the device and its group, the `leader` and its group, and each of
  `group_members` with its group;
* `unjoin` changes the device's group (a member leaving changes the group it leaves; a
  leader leaving regroups its members).

A plugin's answer is checked here: anything but a list of device-id strings is a plugin
error, and the action is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hub.model import Device
from hub.vocabulary import GROUP_ACTIONS

MAX_AFFECTED = 256


class BlastRadiusError(Exception):
    """The plugin's answer is unusable (raised, not a list of ids, ...)."""


def derive(device: Device, action: str, params: dict[str, Any],
           lookup: Callable[[str], Device | None]) -> list[str]:
    """The blast radius by the standard vocabulary."""
    ids = [device.id]
    members = _members(device)
    if action in GROUP_ACTIONS:
        ids += members
    elif action == "join":
        ids += members
        targets = [params["leader"]] if isinstance(params.get("leader"), str) else []
        if isinstance(params.get("group_members"), list):
            targets += [m for m in params["group_members"] if isinstance(m, str)]
        for target in targets:
            ids.append(target)
            other = lookup(target)
            if other is not None:
                ids += _members(other)
    elif action == "unjoin":
        ids += members
    return _unique(ids)


def normalize(answer: Any, device: Device) -> list[str]:
    """Check a plugin's `affected_devices` answer; the device itself always comes first."""
    if isinstance(answer, str | bytes | dict) or not isinstance(answer, Iterable):
        raise BlastRadiusError(f"expected a list of device ids, got {type(answer).__name__}")
    ids = [device.id]
    for item in answer:
        if not isinstance(item, str) or not item or len(item) > 256:
            raise BlastRadiusError(f"expected device id strings, got {item!r:.80}")
        ids.append(item)
        if len(ids) > MAX_AFFECTED:
            raise BlastRadiusError(f"more than {MAX_AFFECTED} devices")
    return _unique(ids)


def _members(device: Device) -> list[str]:
    members = device.attributes.get("group_members")
    if not isinstance(members, list):
        return []
    return [m for m in members[:MAX_AFFECTED] if isinstance(m, str) and m]


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))
