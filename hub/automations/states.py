"""What automations read of the devices: state objects, how long a value has held, and
which devices a reference (`demo.player_1`, `sonos.*`, `name:Kitchen`) names.

The engine feeds `StateView.on_event` every bus event. For each device it remembers when its
state last changed and when each attribute last changed (on the hub's monotonic clock), which
is what `for:` in a state condition measures: a device that has played for an hour has
`held_for(id) >= 3600` even if its volume moved a minute ago. A device already present when
the engine starts counts from then (as Home Assistant counts from its own start).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.automations.template import RenderContext
from hub.automations.values import is_glob

NAME_PREFIX = "name:"


@dataclass
class _Since:
    seen: float  # monotonic time the device became known
    state: float  # monotonic time of the last state change
    state_wall: float  # the same in epoch seconds
    attributes: dict[str, float] = field(default_factory=dict)  # name -> last change


class StateView:
    def __init__(self, hub: Any, tz: dt.tzinfo | None) -> None:
        self.hub = hub
        self.clock = hub.clock
        self.tz = tz
        self._since: dict[str, _Since] = {}
        self.render_context = RenderContext(
            device=self.state_object, devices=self._all_states, time=self.clock.time, tz=tz)

    # -- change times -----------------------------------------------------------------------

    def seed(self) -> None:
        for device in self.hub.registry.all():
            self._since.setdefault(device.id, self._now())

    def _now(self) -> _Since:
        mono = self.clock.monotonic()
        return _Since(mono, mono, self.clock.time())

    def on_event(self, event: Any) -> None:
        if event.type == "state_changed":
            device_id = event.data.get("device_id")
            old, new = event.data.get("old_state") or {}, event.data.get("new_state") or {}
            since = self._since.get(device_id)
            if since is None:
                self._since[device_id] = self._now()
                return
            mono = self.clock.monotonic()
            if old.get("state") != new.get("state"):
                since.state, since.state_wall = mono, self.clock.time()
            old_attrs, new_attrs = old.get("attributes") or {}, new.get("attributes") or {}
            for name in set(old_attrs) | set(new_attrs):
                if old_attrs.get(name) != new_attrs.get(name):
                    since.attributes[name] = mono
        elif event.type == "device_added":
            self._since[event.data.get("device_id")] = self._now()
        elif event.type == "device_removed":
            self._since.pop(event.data.get("device_id"), None)

    def held_for(self, device_id: str, attribute: str | None = None) -> float:
        """Seconds since the device's state (or the attribute) last changed."""
        since = self._since.get(device_id)
        if since is None:
            return 0.0
        # An attribute that never changed since the device became known has held since then.
        start = since.attributes.get(attribute, since.seen) if attribute else since.state
        return max(0.0, self.clock.monotonic() - start)

    # -- state objects ----------------------------------------------------------------------

    def state_object(self, device_id: str) -> Mapping[str, Any] | None:
        """A device as templates and `trigger.to_state` see it (Home Assistant's shape)."""
        device = self.hub.registry.get(device_id)
        if device is None:
            return None
        return self.wrap(device.snapshot())

    def wrap(self, snapshot: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if not isinstance(snapshot, Mapping) or "id" not in snapshot:
            return None
        device_id = snapshot["id"]
        since = self._since.get(device_id)
        changed = since.state_wall if since else snapshot.get("updated_at") or 0.0
        return {
            "entity_id": device_id,
            "id": device_id,
            "name": snapshot.get("name"),
            "state": snapshot.get("state"),
            "attributes": snapshot.get("attributes") or {},
            "available": snapshot.get("available", True),
            "last_changed": dt.datetime.fromtimestamp(changed, dt.UTC),
            "last_updated": dt.datetime.fromtimestamp(
                snapshot.get("updated_at") or changed, dt.UTC),
        }

    def _all_states(self) -> list[Mapping[str, Any]]:
        return [s for d in self.hub.registry.all() if (s := self.wrap(d.snapshot()))]

    # -- references -------------------------------------------------------------------------

    def resolve(self, refs: list[str], action: str | None = None) -> list[str]:
        """The device ids that references name, in order, without repeats. An exact id is
        kept even when unknown (the caller reports it); a glob or `name:` matches the known
        devices (and, given an action, only those that offer it)."""
        out: list[str] = []
        devices = None
        for ref in refs:
            if ref.startswith(NAME_PREFIX):
                # The core's resolver, as for every other caller: ambiguous or unknown names
                # fail the step with the candidates (409) or the closest names (404).
                device = self.hub.registry.resolve(ref)
                matched = [device.id] if action is None or action in device.actions else []
            elif is_glob(ref):
                if devices is None:
                    devices = sorted(self.hub.registry.all(), key=lambda d: d.id)
                matched = [d.id for d in devices if _matches(ref, d)
                           and (action is None or action in d.actions)]
            else:
                matched = [ref]
            out.extend(m for m in matched if m not in out)
        return out


def _matches(ref: str, device: Any) -> bool:
    return fnmatch.fnmatchcase(device.id, ref)
