"""Conditions: checked when a trigger fires (and by choose, if, repeat and condition steps).

    state          a device is (or an attribute has) one of the given values; with `for`, it
                   has been so for at least that long (since its last change)
    numeric_state  a number (state, attribute or value_template) is above and/or below bounds
    time           local time within [after, before), optionally on some weekdays
    weekday        today is one of the given weekdays
    trigger        the run was started by the trigger with one of these ids
    template       a template renders to `true`
    and / or / not

Each condition records its result in the run's trace under its path. A device that does not
exist makes its condition false (the trace says why); a template error fails the run.
A disabled condition (`enabled: false`) is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.automations import localtime
from hub.automations.states import StateView
from hub.automations.template import render_condition, render_text
from hub.automations.trace import Trace, path_text
from hub.automations.values import values_match


@dataclass
class CheckEnv:
    """What a condition reads: the devices, the time, and where to record its result."""

    view: StateView
    tz: localtime.TimeZone
    trace: Trace | None = None

    def record(self, path: str, result: bool, **details: Any) -> bool:
        if self.trace is not None:
            self.trace.condition(path, result, **details)
        return result


Check = Callable[[CheckEnv, Mapping[str, Any]], bool]


def build_conditions(configs: list[dict[str, Any]], base: list[Any]) -> Check:
    """All of `configs` must hold (an empty list holds); paths start at `base`."""
    checks = [build_condition(c, [*base, i]) for i, c in enumerate(configs)
              if c.get("enabled", True)]

    def check(env: CheckEnv, variables: Mapping[str, Any]) -> bool:
        return all(c(env, variables) for c in checks)

    return check


def build_condition(config: dict[str, Any], keys: list[Any]) -> Check:
    kind = config["condition"]
    path = path_text(keys)
    if kind in ("and", "or", "not"):
        return _logical(kind, config, keys, path)
    builder = _BUILDERS[kind]
    return builder(config, path)


def _logical(kind: str, config: dict[str, Any], keys: list[Any], path: str) -> Check:
    children = [build_condition(c, [*keys, "conditions", i])
                for i, c in enumerate(config["conditions"]) if c.get("enabled", True)]

    def check(env: CheckEnv, variables: Mapping[str, Any]) -> bool:
        if kind == "and":
            result = all(c(env, variables) for c in children)
        elif kind == "or":
            result = any(c(env, variables) for c in children)
        else:
            result = not any(c(env, variables) for c in children)
        return env.record(path, result)

    return check


def _state(config: dict[str, Any], path: str) -> Check:
    refs, attribute = config["device"], config.get("attribute")
    expected, hold = config["state"], config.get("for")
    any_of = config.get("match") == "any"

    def check(env: CheckEnv, variables: Mapping[str, Any]) -> bool:
        seen: dict[str, Any] = {}
        results = []
        for device_id in env.view.resolve(refs):
            device = env.view.hub.registry.get(device_id)
            if device is None:
                seen[device_id] = "unknown device"
                results.append(False)
                continue
            actual = device.attributes.get(attribute) if attribute else device.reported_state
            ok = values_match(expected, actual)
            if ok and hold is not None:
                held = env.view.held_for(device_id, attribute)
                ok = held >= hold
                seen[device_id] = {"value": actual, "held_for": round(held, 3)}
            else:
                seen[device_id] = actual
            results.append(ok)
        result = bool(results) and (any(results) if any_of else all(results))
        return env.record(path, result, devices=seen)

    return check


def numeric_value(config: Mapping[str, Any], view: StateView, state: Mapping[str, Any] | None,
                  variables: Mapping[str, Any]) -> float | None:
    """The number a numeric_state trigger or condition compares for a device's state object
    (its state, an attribute, or value_template with `state`), or None."""
    if state is None:
        return None
    if "value_template" in config:
        raw: Any = render_text(config["value_template"], {**variables, "state": state},
                               view.render_context)
    elif config.get("attribute"):
        raw = state["attributes"].get(config["attribute"])
    else:
        raw = state["state"]
    if isinstance(raw, bool):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def in_range(config: Mapping[str, Any], value: float | None) -> bool:
    if value is None:
        return False
    above, below = config.get("above"), config.get("below")
    return (above is None or value > above) and (below is None or value < below)


def _numeric_state(config: dict[str, Any], path: str) -> Check:
    def check(env: CheckEnv, variables: Mapping[str, Any]) -> bool:
        seen: dict[str, Any] = {}
        results = []
        for device_id in env.view.resolve(config["device"]):
            value = numeric_value(config, env.view, env.view.state_object(device_id), variables)
            seen[device_id] = value
            results.append(in_range(config, value))
        return env.record(path, bool(results) and all(results), values=seen)

    return check


def _time(config: dict[str, Any], path: str) -> Check:
    after, before, days = config.get("after"), config.get("before"), config.get("weekdays")

    def check(env: CheckEnv, variables: Mapping[str, Any]) -> bool:
        now = env.view.clock.time()
        result = localtime.in_window(now, after, before, days, env.tz)
        return env.record(path, result, now=localtime.local(now, env.tz))

    return check


def _trigger(config: dict[str, Any], path: str) -> Check:
    ids = config["id"]

    def check(env: CheckEnv, variables: Mapping[str, Any]) -> bool:
        trigger = variables.get("trigger")
        given = trigger.get("id") if isinstance(trigger, Mapping) else None
        return env.record(path, given in ids, trigger_id=given)

    return check


def _template(config: dict[str, Any], path: str) -> Check:
    source = config["value_template"]

    def check(env: CheckEnv, variables: Mapping[str, Any]) -> bool:
        return env.record(path, render_condition(source, variables, env.view.render_context))

    return check


_BUILDERS: dict[str, Callable[[dict[str, Any], str], Check]] = {
    "state": _state,
    "numeric_state": _numeric_state,
    "time": _time,
    "weekday": lambda config, path: _time({"weekdays": config["weekdays"]}, path),
    "trigger": _trigger,
    "template": _template,
}
