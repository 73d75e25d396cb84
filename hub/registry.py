"""The device registry: every known device, its state, and the events when it changes."""

from __future__ import annotations

from typing import Any

from hub import names
from hub.clock import Clock
from hub.events import EventBus
from hub.model import Device


class DeviceRegistry:
    def __init__(self, bus: EventBus, clock: Clock) -> None:
        self._bus = bus
        self._clock = clock
        self._devices: dict[str, Device] = {}

    def get(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def resolve(self, ref: str) -> Device:
        """The device an id or `name:<name>` designates (see hub.names): raises NotFound (404,
        with the closest devices) or Conflict (409 `ambiguous_device`)."""
        return names.resolve(self._devices, ref)

    def all(self) -> list[Device]:
        return list(self._devices.values())

    def by_plugin(self, plugin: str) -> list[Device]:
        return [d for d in self._devices.values() if d.plugin == plugin]

    def __len__(self) -> int:
        return len(self._devices)

    def add(self, plugin: str, device: Device) -> bool:
        """Register or replace a device; returns True when it is new."""
        if not isinstance(device, Device):
            raise TypeError(f"plugin {plugin} gave a {type(device).__name__}, not a Device")
        if not device.id.startswith(f"{plugin}.") or len(device.id) <= len(plugin) + 1:
            raise ValueError(f"device id {device.id!r} must start with '{plugin}.'")
        device.actions = frozenset(device.actions)
        device.updated_at = device.updated_at or self._clock.time()
        device._snapshot = None
        existing = self._devices.get(device.id)
        self._devices[device.id] = device
        if existing is None:
            self._bus.publish("device_added", {"device_id": device.id,
                                               "device": device.snapshot()})
            return True
        old = existing.snapshot()
        new = device.snapshot()
        if _differs(old, new):
            self._bus.publish("state_changed",
                              {"device_id": device.id, "old_state": old, "new_state": new})
        return False

    def remove(self, plugin: str, device_id: str) -> None:
        device = self._devices.get(device_id)
        if device is None or device.plugin != plugin:
            return
        del self._devices[device_id]
        self._bus.publish("device_removed", {"device_id": device_id})

    def update(self, plugin: str, device_id: str, *, state: str | None = None,
               available: bool | None = None, reason: str | None = None,
               name: str | None = None, info: dict[str, Any] | None = None,
               actions: frozenset[str] | None = None,
               attributes: dict[str, Any] | None = None) -> bool:
        device = self._devices.get(device_id)
        if device is None or device.plugin != plugin:
            raise KeyError(f"{plugin} has no device {device_id!r}")
        old = device.snapshot()
        if state is not None:
            device.state = state
        if available is not None:
            device.available = available
            device.unavailable_reason = None if available else reason
        elif reason is not None and not device.available:
            device.unavailable_reason = reason
        if name is not None:
            device.name = name
        if info:
            device.info.update(info)
        if actions is not None:
            device.actions = frozenset(actions)
        for key, value in (attributes or {}).items():
            if value is None:
                device.attributes.pop(key, None)
            else:
                device.attributes[key] = value
        device._snapshot = None
        new = device.snapshot()
        if not _differs(old, new):
            device._snapshot = old  # nothing changed: keep serving the same snapshot
            return False
        device.updated_at = self._clock.time()
        new["updated_at"] = device.updated_at  # before anyone else has seen `new`
        self._bus.publish("state_changed",
                          {"device_id": device_id, "old_state": old, "new_state": new})
        return True



def _differs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(old[k] != new[k] for k in old if k != "updated_at") or old.keys() != new.keys()
