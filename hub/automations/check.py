"""Checking automations against what the hub offers: the loaded plugins' catalogs, and (when
known) the devices discovered.

The schema checks the shape of an automation; this checks what the shape refers to:

- a device id names its plugin by its prefix (`sonos.RINCON_…` is the sonos plugin's): the
  plugin must be installed and configured;
- a device action's name must be offered by that plugin (for `name:` references and
  templates, by some configured plugin), and its static parameters must validate against the
  action's schema (parameters that are templates are checked when they are rendered);
- an event trigger's type must be a hub event type or one an `event` action fires.

Errors are what can never work. What can only be known at run time (a device not
discovered yet, a `name:` no device has yet) is a warning. `hub check-config` prints both
with file and line; a running hub logs them at start and reload and shows them in each
automation's status (`problems`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import voluptuous as vol

from hub import names
from hub.automations import ha
from hub.automations.schema import (
    CORE_EVENT_TYPES,
    all_conditions,
    all_steps,
    all_triggers,
    step_kind,
)
from hub.automations.states import NAME_PREFIX
from hub.automations.template import has_template, is_template
from hub.automations.values import is_glob
from hub.errors import HubError, NotFound
from hub.validation import problems

# Normal key -> how a user may have spelt it in YAML (for file:line of an error).
KEY_ALIASES: dict[str, tuple[str, ...]] = {
    "triggers": ("trigger",),
    "conditions": ("condition", "and", "or", "not"),
    "actions": ("action",),
    "trigger": ("platform",),
    "device": ("entity_id", "device_id", "target"),
    "params": ("data", "data_template"),
    "weekdays": ("weekday",),
    "event_data": ("match", "event_data_template"),
    **{hub: (ha_name,) for hub, ha_name in ha.HA_PARAM_NAMES.items()},
}


@dataclass(frozen=True)
class Problem:
    path: tuple[Any, ...]  # from the automations list: (0, "actions", 1, "params", "volume")
    message: str
    severity: str = "error"  # or "warning"

    def as_dict(self) -> dict[str, Any]:
        return {"path": list(self.path), "message": self.message, "severity": self.severity}


@dataclass
class Catalog:
    """What the plugins offer: each plugin's status, and the actions of the loaded ones."""

    status: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)  # plugin -> name -> spec

    @classmethod
    def of(cls, manager: Any) -> Catalog:
        catalog = cls()
        for name, plugin in manager.plugins.items():
            catalog.status[name] = plugin.status
            if plugin.error:
                catalog.errors[name] = plugin.error
            if plugin.active and plugin.info is not None:
                catalog.actions[name] = dict(plugin.info.actions)
        return catalog


class _Templated:
    """Stands for a parameter that is a template: only known when rendered."""

    def __repr__(self) -> str:
        return "<template>"


def check_automations(automations: Sequence[Mapping[str, Any]], catalog: Catalog,
                      devices: Iterable[Any] | None = None) -> list[Problem]:
    """Problems of normal (validated) automations. `devices` (the registry's devices, when
    known) turns unknown ids and names into warnings."""
    known = None if devices is None else {d.id: d for d in devices}
    fired = {step["event"] for a in automations
             for _, step in all_steps(a["actions"], ["actions"]) if "event" in step}
    out: list[Problem] = []
    for index, automation in enumerate(automations):
        checker = _Checker(catalog, known, fired, (index,))
        checker.automation(automation)
        out.extend(checker.problems)
    return out


class _Checker:
    def __init__(self, catalog: Catalog, devices: dict[str, Any] | None, fired: set[str],
                 base: tuple[Any, ...]) -> None:
        self.catalog = catalog
        self.devices = devices
        self.fired = fired
        self.base = base
        self.problems: list[Problem] = []

    def _add(self, path: Sequence[Any], message: str, severity: str = "error") -> None:
        problem = Problem((*self.base, *path), message, severity)
        if problem not in self.problems:
            self.problems.append(problem)

    def automation(self, automation: Mapping[str, Any]) -> None:
        for path, trigger in all_triggers(dict(automation)):
            kind = trigger["trigger"]
            if kind in ("state", "numeric_state"):
                self._refs(trigger["device"], [*path, "device"])
            elif kind == "time":
                for i, at in enumerate(trigger["at"]):
                    if isinstance(at, dict):
                        self._refs([at["device"]], [*path, "at", i, "device"])
            elif kind == "event":
                for i, name in enumerate(trigger["event_type"]):
                    if name not in CORE_EVENT_TYPES and name not in self.fired:
                        self._add([*path, "event_type", *([i] if i else [])],
                                  f"unknown event type {name!r}: the hub's are "
                                  f"{', '.join(CORE_EVENT_TYPES)}, and no `event:` action "
                                  f"fires {name!r}")
        for path, cond in all_conditions(dict(automation)):
            if cond.get("condition") in ("state", "numeric_state"):
                self._refs(cond["device"], [*path, "device"])
        for path, step in all_steps(list(automation["actions"]), ["actions"]):
            if step_kind(step) == "device":
                self._device_action(step, path)

    # -- device references ------------------------------------------------------------------

    def _refs(self, refs: Any, path: list[Any]) -> list[str | None]:
        """Check each reference; returns the plugin each names (None when unknown)."""
        if isinstance(refs, str):  # a template: known when rendered
            return [None]
        plugins: list[str | None] = []
        for i, ref in enumerate(refs):
            at = [*path, i] if len(refs) > 1 else path
            plugins.append(self._ref(ref, at))
        return plugins

    def _ref(self, ref: str, path: list[Any]) -> str | None:
        if is_template(ref):
            return None
        if ref.startswith(NAME_PREFIX):
            if self.devices is not None:
                try:
                    names.resolve(self.devices, ref)
                except NotFound:  # run time may know it
                    self._add(path, f"no device is named {ref[len(NAME_PREFIX):]!r} (yet)",
                              "warning")
                except HubError as err:  # ambiguous (409): fails the step at run time
                    self._add(path, err.message, "warning")
            return None
        plugin, dot, rest = ref.partition(".")
        if is_glob(ref):
            if self.devices is not None and not any(
                    fnmatch.fnmatchcase(d, ref) for d in self.devices):
                self._add(path, f"no device matches {ref!r} (yet)", "warning")
            if not dot or is_glob(plugin):
                return None
        elif not dot or not rest:
            self._add(path, f"{ref!r} is not a device id: ids are <plugin>.<id> "
                            f"(e.g. demo.player_1), or use name:<device name>")
            return None
        if not self._plugin(plugin, path):
            return None
        if not is_glob(ref) and self.devices is not None and ref not in self.devices:
            self._add(path, f"{ref} is not a known device (not discovered yet?)", "warning")
        return plugin

    def _plugin(self, plugin: str, path: list[Any]) -> bool:
        status = self.catalog.status.get(plugin)
        if status is None:
            installed = ", ".join(sorted(self.catalog.status)) or "none"
            self._add(path, f"no plugin {plugin!r} is installed (installed: {installed})")
            return False
        if status == "loaded":
            return True
        if status == "not_configured":
            self._add(path, f"the {plugin} plugin is installed but not configured: add "
                            f"`{plugin}:` under `plugins:`")
        elif status == "disabled":
            self._add(path, f"the {plugin} plugin is disabled "
                            f"({self.catalog.errors.get(plugin, 'disabled')})", "warning")
        else:
            self._add(path, f"the {plugin} plugin failed to load: "
                            f"{self.catalog.errors.get(plugin, status)}")
        return False

    # -- device actions ---------------------------------------------------------------------

    def _device_action(self, step: Mapping[str, Any], path: list[Any]) -> None:
        name = step["action"]
        service = ha.is_service(name)
        wanted = ha.HUB_ACTIONS.get(name.partition(".")[2], ()) if service else (name,)
        plugins = self._refs(step["device"], [*path, "device"])
        known = sorted({p for p in plugins if p and p in self.catalog.actions})
        if any(p is None for p in plugins) and not any(
                all(a in actions for a in wanted) for actions in self.catalog.actions.values()):
            self._add([*path, "action"], f"no configured plugin offers {name!r}")
            return
        specs: list[Any] = []
        offered = set()
        for plugin in known:
            actions = self.catalog.actions[plugin]
            missing = [a for a in wanted if a not in actions]
            if missing:
                self._add([*path, "action"],
                          f"the {plugin} plugin offers no action {missing[0]!r} "
                          f"(it offers {', '.join(sorted(actions))})")
                continue
            offered.add(plugin)
            specs.extend(actions[a] for a in wanted)
        if self.devices is not None and isinstance(step["device"], list):
            for ref in step["device"]:
                device = self.devices.get(ref)
                if ref.partition(".")[0] not in offered:
                    continue
                if device is not None and not any(a in device.actions for a in wanted):
                    self._add([*path, "action"],
                              f"{ref} does not support {name!r} (it supports "
                              f"{', '.join(sorted(device.actions))})", "warning")
        self._params(step.get("params") or {}, name, service, specs, [*path, "params"])

    def _params(self, params: Mapping[str, Any], name: str, service: bool, specs: list[Any],
                path: list[Any]) -> None:
        if service:
            if has_template(params):
                return  # translated once rendered
            try:
                _action, params = ha.translate(name, dict(params))
            except HubError as err:
                field_ = err.extra.get("field")
                self._add([*path, field_] if field_ else path, err.message)
                return
        templated = {k for k, v in params.items() if has_template(v)}
        given = {k: (_Templated() if k in templated else v) for k, v in params.items()}
        for spec in {id(s): s for s in specs}.values():
            try:
                spec.schema(dict(given))
            except vol.Invalid as err:
                for key_path, message in problems(err, noun="parameter"):
                    if key_path and key_path[0] in templated:
                        continue
                    where = [*path, *key_path] if key_path else path
                    self._add(where, f"{message} (parameter of {spec.name})")
