"""The `automations:` section: Home Assistant's automation language, validated and normalised.

An HA user's YAML is accepted as written: `triggers:`/`conditions:`/`actions:` (or the older
`trigger:`/`condition:`/`action:`), `trigger:` (or `platform:`) in a trigger, `entity_id:` for
a device, `action: media_player.volume_set` with `target:` and `data:` (or `service:`), the
shorthand conditions (`"{{ template }}"`, `and:`/`or:`/`not:`). The normal form uses one
spelling of each (`triggers`, `trigger`, `device`, `params`, `conditions: [...]`), fills the
defaults, compiles every template (a syntax error is a config error), and validates again
unchanged, so the engine re-checks what the config loader checked. Errors carry the path of
the bad key; `hub.automations.check.locate` turns it into file:line (also through the
aliases). See docs/automations.md for the language and what it does not support.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import voluptuous as vol

from hub.automations import ha
from hub.automations.template import TemplateError, check_syntax, has_template, is_template
from hub.automations.values import (
    ID_RE,
    device_refs,
    duration,
    event_type,
    identifier,
    log_level,
    maturity,
    number,
    one_or_more,
    positive_duration,
    signed_duration,
    slug,
    state_value,
    time_of_day,
    webhook_id,
    weekdays,
)

MODES = ("single", "restart", "queued", "parallel")
DEFAULT_MAX_RUNS = 10
DEFAULT_TRACES = 5
MAX_TRACES = 50
MAX_NESTING = 16  # blocks inside blocks (choose in repeat in if ...)
# Core event types (hub.ws.SUBSCRIBABLE); an `event` action may not fire one of them.
CORE_EVENT_TYPES = ("state_changed", "device_added", "device_removed", "action",
                    "plugin_status", "plugin_event", "automation")


# -- helpers --------------------------------------------------------------------------------------


def _aliases(names: dict[str, str]) -> Callable[[Any], Any]:
    """Rename Home Assistant's (and older) key spellings to the normal one."""
    def rename(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[Any, Any] = {}
        for key, item in value.items():
            target = names.get(key, key)
            if target in out:
                raise vol.Invalid(f"{key} and {target} say the same thing; give one",
                                  path=[key])
            out[target] = item
        return out
    return rename


def template(value: Any) -> str:
    """A string that must be a template (value_template, wait_template)."""
    if not isinstance(value, str) or not is_template(value):
        raise vol.Invalid("expected a template such as \"{{ is_state('demo.player_1', "
                          "'playing') }}\"")
    return _compiled(value)


def _compiled(value: Any) -> Any:
    try:
        check_syntax(value)
    except TemplateError as err:
        raise vol.Invalid(str(err)) from None
    return value


def templated(validator: Any) -> Callable[[Any], Any]:
    """`validator`, unless the value holds a template (checked when it is rendered)."""
    schema = vol.Schema(validator)

    def validate(value: Any) -> Any:
        if has_template(value):
            return _compiled(value)
        return schema(value)
    return validate


def any_value(value: Any) -> Any:
    """Free-form data (params, variables, event data): only its templates are checked."""
    return _compiled(value)


def _variables(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping of variable names to values")
    out = {}
    for key, item in value.items():
        try:
            out[identifier(key)] = any_value(item)
        except vol.Invalid as err:
            err.prepend([key])
            raise
    return out


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _by_kind(key: str, schemas: dict[str, Callable[[Any], Any]], what: str) -> Callable[
        [Any], dict]:
    def validate(value: Any) -> dict:
        if not isinstance(value, dict):
            raise vol.Invalid(f"expected a {what} mapping")
        kind = value.get(key)
        if kind not in schemas:
            raise vol.Invalid(f"unknown {what} {kind!r}; one of {', '.join(schemas)}",
                              path=[key])
        return dict(schemas[kind](value))
    return validate


_COMMON: dict[Any, Any] = {vol.Optional("alias"): vol.All(str, vol.Length(max=200)),
                           vol.Optional("enabled"): bool}
_DEVICE_ALIASES = {"entity_id": "device", "device_id": "device"}


# -- triggers -------------------------------------------------------------------------------------

_TRIGGER_COMMON: dict[Any, Any] = {
    **_COMMON,
    vol.Required("trigger"): str,
    vol.Optional("id"): vol.All(vol.Coerce(str), vol.Length(min=1, max=64)),
    vol.Optional("variables"): _variables,
}


def _one_of(*pairs: tuple[str, str]) -> Callable[[dict], dict]:
    def check(value: dict) -> dict:
        for a, b in pairs:
            if a in value and b in value:
                raise vol.Invalid(f"give {a} or {b}, not both", path=[b])
        return value
    return check


def _above_or_below(value: dict) -> dict:
    if "above" not in value and "below" not in value:
        raise vol.Invalid("numeric_state needs above, below or both")
    return value


_STATE_TRIGGER = vol.All(vol.Schema({
    **_TRIGGER_COMMON,
    vol.Required("device"): device_refs,
    vol.Optional("attribute"): vol.All(str, vol.Length(min=1)),
    vol.Optional("from"): vol.Any(None, one_or_more(state_value)),
    vol.Optional("to"): vol.Any(None, one_or_more(state_value)),
    vol.Optional("not_from"): one_or_more(state_value),
    vol.Optional("not_to"): one_or_more(state_value),
    vol.Optional("for"): duration,
}), _one_of(("from", "not_from"), ("to", "not_to")))

_NUMERIC_STATE: dict[Any, Any] = {
    vol.Required("device"): device_refs,
    vol.Optional("attribute"): vol.All(str, vol.Length(min=1)),
    vol.Optional("value_template"): template,
    vol.Optional("above"): number,
    vol.Optional("below"): number,
}

_NUMERIC_TRIGGER = vol.All(vol.Schema({
    **_TRIGGER_COMMON, **_NUMERIC_STATE, vol.Optional("for"): duration}), _above_or_below)


def _time_at(value: Any) -> Any:
    """A time of day, or a device attribute holding a time (with an optional offset)."""
    if isinstance(value, dict):
        return vol.Schema(vol.All(_aliases(_DEVICE_ALIASES), {
            vol.Required("device"): vol.All(str, vol.Length(min=1, max=256)),
            vol.Required("attribute"): vol.All(str, vol.Length(min=1)),
            vol.Optional("offset"): signed_duration,
        }))(value)
    return time_of_day(value)


_TIME_TRIGGER = vol.Schema({
    **_TRIGGER_COMMON,
    vol.Required("at"): one_or_more(_time_at),
    vol.Optional("weekdays"): weekdays,
})


class _Pattern:
    """A time_pattern field: *, a value, or /N (every N)."""

    def __init__(self, name: str, top: int) -> None:
        self.name, self.top = name, top

    def __call__(self, value: Any) -> str:
        text = str(value).strip() if not isinstance(value, bool) else ""
        if text == "*":
            return text
        every = text.startswith("/")
        try:
            number_ = int(text[1:] if every else text)
        except ValueError:
            raise vol.Invalid(f"{self.name}: expected *, a number or /N") from None
        if every and not 1 <= number_ <= self.top:
            raise vol.Invalid(f"{self.name}: /N needs N from 1 to {self.top}")
        if not every and not 0 <= number_ <= self.top:
            raise vol.Invalid(f"{self.name}: expected 0 to {self.top}")
        return f"/{number_}" if every else str(number_)


def _pattern_given(value: dict) -> dict:
    if not any(k in value for k in ("hours", "minutes", "seconds")):
        raise vol.Invalid("time_pattern needs hours, minutes or seconds")
    return value


_TIME_PATTERN_TRIGGER = vol.All(vol.Schema({
    **_TRIGGER_COMMON,
    vol.Optional("hours"): _Pattern("hours", 23),
    vol.Optional("minutes"): _Pattern("minutes", 59),
    vol.Optional("seconds"): _Pattern("seconds", 59),
}), _pattern_given)

_INTERVAL_TRIGGER = vol.Schema({**_TRIGGER_COMMON, vol.Required("every"): positive_duration})

_EVENT_TRIGGER = vol.Schema({
    **_TRIGGER_COMMON,
    vol.Required("event_type"): one_or_more(event_type),
    vol.Optional("event_data"): dict,
})

_WEBHOOK_METHODS = ("POST", "PUT", "GET", "HEAD")


def _methods(value: Any) -> list[str]:
    items = one_or_more(vol.All(str, vol.Upper, vol.In(_WEBHOOK_METHODS)))(value)
    return sorted(set(items), key=_WEBHOOK_METHODS.index)


_WEBHOOK_TRIGGER = vol.Schema({
    **_TRIGGER_COMMON,
    vol.Required("webhook_id"): webhook_id,
    vol.Optional("allowed_methods"): _methods,
    vol.Optional("local_only"): bool,
})

_HUB_START_TRIGGER = vol.Schema({**_TRIGGER_COMMON})


def _homeassistant(value: dict) -> dict:
    """`trigger: homeassistant` with `event: start` is the hub's start."""
    value = dict(value)
    event = value.pop("event", None)
    if event != "start":
        raise vol.Invalid("only `event: start` is supported (the hub has no shutdown trigger)",
                          path=["event"])
    value["trigger"] = "hub_start"
    return dict(_HUB_START_TRIGGER(value))


_TEMPLATE_TRIGGER = vol.Schema({
    **_TRIGGER_COMMON,
    vol.Required("value_template"): template,
    vol.Optional("for"): duration,
})

TRIGGER_KINDS: dict[str, Callable[[Any], Any]] = {
    "state": _STATE_TRIGGER,
    "numeric_state": _NUMERIC_TRIGGER,
    "time": _TIME_TRIGGER,
    "time_pattern": _TIME_PATTERN_TRIGGER,
    "interval": _INTERVAL_TRIGGER,
    "event": _EVENT_TRIGGER,
    "webhook": _WEBHOOK_TRIGGER,
    "hub_start": _HUB_START_TRIGGER,
    "homeassistant": _homeassistant,
    "template": _TEMPLATE_TRIGGER,
}

TRIGGER_SCHEMA = vol.All(
    _aliases({"platform": "trigger", **_DEVICE_ALIASES, "weekday": "weekdays",
              "match": "event_data"}),
    _by_kind("trigger", TRIGGER_KINDS, "trigger"))


def _triggers(value: Any) -> list[dict]:
    return vol.Schema(vol.All(_as_list, vol.Length(min=1), [TRIGGER_SCHEMA]))(value)


# -- conditions -----------------------------------------------------------------------------------


def condition(value: Any) -> dict:
    """One condition, in any of Home Assistant's spellings."""
    if isinstance(value, str):
        value = {"condition": "template", "value_template": value}
    elif isinstance(value, dict) and "condition" not in value:
        logical = [k for k in ("and", "or", "not") if k in value]
        if len(logical) == 1:
            rest = {k: v for k, v in value.items() if k != logical[0]}
            value = {"condition": logical[0], "conditions": value[logical[0]], **rest}
    elif isinstance(value, dict) and isinstance(value.get("condition"), str) and \
            is_template(value["condition"]):
        value = {**value, "condition": "template", "value_template": value["condition"]}
    return _CONDITION(value)


def conditions(value: Any) -> list[dict]:
    return vol.Schema(vol.All(_as_list, [condition]))(value)


def _time_window(value: dict) -> dict:
    if "after" not in value and "before" not in value and "weekdays" not in value:
        raise vol.Invalid("a time condition needs after, before or weekdays")
    return value


def _nonempty_conditions(value: Any) -> list[dict]:
    items = conditions(value)
    if not items:
        raise vol.Invalid("expected at least one condition")
    return items


_CONDITION = vol.All(
    _aliases({**_DEVICE_ALIASES, "weekday": "weekdays"}),
    _by_kind("condition", {
        "state": vol.Schema({
            **_COMMON,
            vol.Required("condition"): "state",
            vol.Required("device"): device_refs,
            vol.Optional("attribute"): vol.All(str, vol.Length(min=1)),
            vol.Required("state"): one_or_more(state_value),
            vol.Optional("for"): duration,
            vol.Optional("match"): vol.In(("all", "any")),
        }),
        "numeric_state": vol.All(vol.Schema({
            **_COMMON, vol.Required("condition"): "numeric_state", **_NUMERIC_STATE}),
            _above_or_below),
        "time": vol.All(vol.Schema({
            **_COMMON,
            vol.Required("condition"): "time",
            vol.Optional("after"): time_of_day,
            vol.Optional("before"): time_of_day,
            vol.Optional("weekdays"): weekdays,
        }), _time_window),
        "weekday": vol.Schema({
            **_COMMON, vol.Required("condition"): "weekday", vol.Required("weekdays"): weekdays}),
        "trigger": vol.Schema({
            **_COMMON, vol.Required("condition"): "trigger",
            vol.Required("id"): one_or_more(vol.All(vol.Coerce(str), vol.Length(min=1)))}),
        "template": vol.Schema({
            **_COMMON, vol.Required("condition"): "template",
            vol.Required("value_template"): template}),
        **{kind: vol.Schema({
            **_COMMON, vol.Required("condition"): kind,
            vol.Required("conditions"): _nonempty_conditions}) for kind in ("and", "or", "not")},
    }, "condition"),
)


# -- actions --------------------------------------------------------------------------------------

_STEP_COMMON: dict[Any, Any] = {**_COMMON, vol.Optional("continue_on_error"): bool}


def _sequence(value: Any) -> list[dict]:
    return vol.Schema(vol.All(_as_list, [action_step]))(value)


def _nonempty_sequence(value: Any) -> list[dict]:
    steps = _sequence(value)
    if not steps:
        raise vol.Invalid("expected at least one action")
    return steps


_timeout = templated(duration)
_WAIT: dict[Any, Any] = {vol.Optional("timeout"): _timeout,
                         vol.Optional("continue_on_timeout"): bool}


def _one_repeat_kind(value: dict) -> dict:
    kinds = [k for k in ("count", "while", "until", "for_each") if k in value]
    if len(kinds) != 1:
        raise vol.Invalid("repeat needs exactly one of count, while, until, for_each")
    return value


_REPEAT = vol.All(vol.Schema({
    vol.Optional("count"): templated(vol.All(vol.Coerce(int), vol.Range(min=0))),
    vol.Optional("while"): _nonempty_conditions,
    vol.Optional("until"): _nonempty_conditions,
    vol.Optional("for_each"): vol.Any(vol.All(str, template), vol.All(list, any_value)),
    vol.Required("sequence"): _nonempty_sequence,
}), _one_repeat_kind)


def _choice(value: Any) -> dict:
    return dict(vol.Schema(vol.All(_aliases({"condition": "conditions"}), {
        vol.Optional("alias"): str,
        vol.Required("conditions"): conditions,
        vol.Required("sequence"): _nonempty_sequence,
    }))(value))


def _branch(value: Any) -> dict:
    """A parallel branch: one action, or `sequence:` for several in order."""
    return action_step(value)


def _event_name(value: Any) -> str:
    name = event_type(value)
    if name in CORE_EVENT_TYPES:
        raise vol.Invalid(f"{name} is a hub event type; fire your own (e.g. doorbell_pressed)")
    return name


def _device_target(value: Any) -> list[str] | str:
    """A target: ids, globs, `name:` references or a template (a string or a list)."""
    if isinstance(value, str) and is_template(value):
        return str(_compiled(value))
    if isinstance(value, list):
        return [str(_compiled(v)) if isinstance(v, str) and is_template(v) else device_refs(v)[0]
                for v in value]
    return device_refs(value)


def _target_mapping(value: Any) -> Any:
    if isinstance(value, dict):
        allowed = {"device", "device_id", "entity_id"}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise vol.Invalid(f"a target takes entity_id, device_id or device, not "
                              f"{', '.join(map(str, unknown))}", path=[unknown[0]])
        found: list[Any] = []
        for key in ("device", "device_id", "entity_id"):
            if key in value:
                item = value[key]
                found.extend(item if isinstance(item, list) else [item])
        if not found:
            raise vol.Invalid("the target names no device")
        return found[0] if len(found) == 1 else found
    return value


def _device_action(value: dict) -> dict:
    value = _aliases({"service": "action", "data": "params", "data_template": "params"})(value)
    step = dict(value)
    metadata = step.pop("metadata", {})  # what Home Assistant's editor adds; nothing to keep
    if not isinstance(metadata, dict):
        raise vol.Invalid("expected a mapping", path=["metadata"])
    targets: list[Any] = []
    for key in ("device", "target", "entity_id"):
        if key in step:
            raw = step.pop(key)
            raw = _target_mapping(raw) if key == "target" else raw
            targets.extend(raw if isinstance(raw, list) else [raw])
    params = step.get("params")
    if isinstance(params, dict) and "entity_id" in params:  # HA's oldest spelling
        params = dict(params)
        raw = params.pop("entity_id")
        targets.extend(raw if isinstance(raw, list) else [raw])
        step["params"] = params
    if not targets:
        raise vol.Invalid("a device action needs its device: `device: demo.player_1` or "
                          "`target: {entity_id: demo.player_1}`", path=["device"])
    step["device"] = targets[0] if len(targets) == 1 else targets
    action = step.get("action")
    if isinstance(action, str) and ha.is_service(action):
        problem = ha.check_service(action)
        if problem:
            raise vol.Invalid(problem, path=["action"])
    out = dict(_DEVICE_STEP(step))
    if out.get("params") is None:
        out["params"] = {}
    return out


_DEVICE_STEP = vol.Schema({
    **_STEP_COMMON,
    vol.Required("device"): _device_target,
    vol.Required("action"): vol.All(str, vol.Length(min=1, max=128)),
    vol.Optional("params", default=dict): vol.Any(None, vol.All(dict, any_value)),
})

_STEPS: dict[str, Callable[[Any], Any]] = {
    "delay": vol.Schema({**_STEP_COMMON, vol.Required("delay"): _timeout}),
    "wait_template": vol.Schema({**_STEP_COMMON, vol.Required("wait_template"): template,
                                 **_WAIT}),
    "wait_for_trigger": vol.Schema({**_STEP_COMMON, vol.Required("wait_for_trigger"): _triggers,
                                    **_WAIT}),
    "choose": vol.Schema({
        **_STEP_COMMON,
        vol.Required("choose"): vol.All(_as_list, vol.Length(min=1), [_choice]),
        vol.Optional("default"): _sequence,
    }),
    "if": vol.Schema({
        **_STEP_COMMON,
        vol.Required("if"): _nonempty_conditions,
        vol.Required("then"): _nonempty_sequence,
        vol.Optional("else"): _sequence,
    }),
    "repeat": vol.Schema({**_STEP_COMMON, vol.Required("repeat"): _REPEAT}),
    "parallel": vol.Schema({**_STEP_COMMON,
                            vol.Required("parallel"): vol.All(_as_list, vol.Length(min=1),
                                                              [_branch])}),
    "sequence": vol.Schema({**_STEP_COMMON, vol.Required("sequence"): _sequence}),
    "variables": vol.Schema({**_STEP_COMMON, vol.Required("variables"): _variables}),
    "stop": vol.Schema({**_STEP_COMMON, vol.Required("stop"): vol.All(str, vol.Length(max=500)),
                        vol.Optional("error"): bool}),
    "event": vol.All(_aliases({"event_data_template": "event_data"}), vol.Schema({
        **_STEP_COMMON,
        vol.Required("event"): _event_name,
        vol.Optional("event_data"): vol.All(dict, any_value),
    })),
}
STEP_KINDS = (*_STEPS, "condition", "device")


def step_kind(step: dict) -> str:
    """Which kind of action a (normal or raw) step is, by its keys, as Home Assistant does."""
    for kind in _STEPS:
        if kind in step:
            return kind
    if "condition" in step:
        return "condition"
    return "device"


_depth = 0


def action_step(value: Any) -> dict:
    global _depth
    if not isinstance(value, dict):
        raise vol.Invalid("expected an action: a mapping such as {action: pause, device: "
                          "demo.player_1} or {delay: 5}")
    if _depth >= MAX_NESTING:
        raise vol.Invalid(f"actions are nested more than {MAX_NESTING} deep")
    _depth += 1
    try:
        kind = step_kind(value)
        if kind == "condition":
            common = {k: value[k] for k in ("continue_on_error",) if k in value}
            rest = {k: v for k, v in value.items() if k not in common}
            out = condition(rest)
            return {**out, **vol.Schema({vol.Optional("continue_on_error"): bool})(common)}
        if kind == "device":
            return _device_action(value)
        return dict(_STEPS[kind](value))
    finally:
        _depth -= 1


# -- the automation -------------------------------------------------------------------------------


def _defaults(value: dict) -> dict:
    if "id" not in value:
        derived = slug(value.get("alias", ""))
        if not derived:
            raise vol.Invalid("an automation needs an id (or an alias to make one from)",
                              path=["id"])
        value["id"] = derived
    # `max` only matters for queued and parallel; it is kept for the others so that
    # normalised output validates again.
    value.setdefault("max", DEFAULT_MAX_RUNS)
    value.setdefault("alias", value["id"])
    value.setdefault("max_exceeded", "warning")
    value.setdefault("trace", {"stored_traces": DEFAULT_TRACES})
    value["conditions"] = value.get("conditions") or []
    for index, trigger in enumerate(value["triggers"]):
        trigger.setdefault("id", str(index))
    return value


AUTOMATION_SCHEMA = vol.All(
    _aliases({"trigger": "triggers", "condition": "conditions", "action": "actions"}),
    vol.Schema({
        vol.Optional("id"): vol.All(vol.Coerce(str), vol.Match(
            ID_RE, msg="an id is 1-64 characters of A-Z a-z 0-9 _ . -")),
        vol.Optional("alias"): vol.All(str, vol.Length(min=1, max=200)),
        vol.Optional("description"): str,
        vol.Optional("enabled", default=True): bool,
        vol.Optional("initial_state"): bool,
        vol.Optional("maturity", default="SUPERVISED"): maturity,
        vol.Optional("mode", default="single"): vol.In(MODES),
        vol.Optional("max"): vol.All(vol.Coerce(int), vol.Range(min=1, max=1000)),
        vol.Optional("max_exceeded"): log_level,
        vol.Optional("trace"): {vol.Optional("stored_traces", default=DEFAULT_TRACES): vol.All(
            int, vol.Range(min=0, max=MAX_TRACES))},
        vol.Optional("variables"): _variables,
        vol.Required("triggers"): _triggers,
        vol.Optional("conditions", default=list): vol.Any(None, conditions),
        vol.Required("actions"): _nonempty_sequence,
    }),
    _defaults,
)


def _automation(value: Any) -> dict:
    return dict(AUTOMATION_SCHEMA(value))


def _unique(automations: list[dict]) -> list[dict]:
    ids: set[str] = set()
    webhooks: set[str] = set()
    for index, automation in enumerate(automations):
        if automation["id"] in ids:
            raise vol.Invalid(f"duplicate automation id {automation['id']!r}",
                              path=[index, "id"])
        ids.add(automation["id"])
        for path, trigger in all_triggers(automation):
            if trigger["trigger"] == "webhook":
                if trigger["webhook_id"] in webhooks:
                    raise vol.Invalid("this webhook_id is already used by another trigger",
                                      path=[index, *path, "webhook_id"])
                webhooks.add(trigger["webhook_id"])
    return automations


def _automations(value: Any) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise vol.Invalid("expected a list of automations")
    out = []
    errors = []
    for index, item in enumerate(value):
        try:
            out.append(_automation(item))
        except vol.MultipleInvalid as err:
            for e in err.errors:
                e.prepend([index])
            errors.extend(err.errors)
        except vol.Invalid as err:
            err.prepend([index])
            errors.append(err)
    if errors:
        raise vol.MultipleInvalid(errors)
    return _unique(out)


AUTOMATIONS_SCHEMA = _automations


# -- walking a normal automation ------------------------------------------------------------------


def child_sequences(step: dict) -> list[tuple[list[Any], list[dict]]]:
    """The nested action lists of a normal step, with their paths relative to it."""
    kind = step_kind(step)
    out: list[tuple[list[Any], list[dict]]] = []
    if kind == "choose":
        for i, option in enumerate(step["choose"]):
            out.append((["choose", i, "sequence"], option["sequence"]))
        if "default" in step:
            out.append((["default"], step["default"]))
    elif kind == "if":
        out.append((["then"], step["then"]))
        if "else" in step:
            out.append((["else"], step["else"]))
    elif kind == "repeat":
        out.append((["repeat", "sequence"], step["repeat"]["sequence"]))
    elif kind == "parallel":
        for i, branch in enumerate(step["parallel"]):
            out.append((["parallel", i], [branch]))
    elif kind == "sequence":
        out.append((["sequence"], step["sequence"]))
    return out


def all_steps(steps: list[dict], base: list[Any]) -> list[tuple[list[Any], dict]]:
    """Every step (nested ones too) with its key path."""
    out = []
    for index, step in enumerate(steps):
        path = [*base, index]
        out.append((path, step))
        for sub, sequence in child_sequences(step):
            if sub[0] == "parallel":  # a branch is the step itself, not a list
                out.extend(all_steps(sequence, [*path, *sub[:-1]]))
            else:
                out.extend(all_steps(sequence, [*path, *sub]))
    return out


def all_triggers(automation: dict) -> list[tuple[list[Any], dict]]:
    """The automation's triggers and those of its wait_for_trigger steps, with paths."""
    out = [(["triggers", i], t) for i, t in enumerate(automation["triggers"])]
    for path, step in all_steps(automation["actions"], ["actions"]):
        if "wait_for_trigger" in step:
            out.extend(([*path, "wait_for_trigger", i], t)
                       for i, t in enumerate(step["wait_for_trigger"]))
    return out


def all_conditions(automation: dict) -> list[tuple[list[Any], dict]]:
    """Every condition (top-level, nested, and in choose/if/repeat/condition steps)."""
    out: list[tuple[list[Any], dict]] = []

    def walk(items: list[dict], base: list[Any]) -> None:
        for index, item in enumerate(items):
            out.append(([*base, index], item))
            if "conditions" in item and item.get("condition") in ("and", "or", "not"):
                walk(item["conditions"], [*base, index, "conditions"])

    walk(automation["conditions"], ["conditions"])
    for path, step in all_steps(automation["actions"], ["actions"]):
        kind = step_kind(step)
        if kind == "condition":
            out.append((path, step))
            if step.get("condition") in ("and", "or", "not"):
                walk(step["conditions"], [*path, "conditions"])
        elif kind == "choose":
            for i, option in enumerate(step["choose"]):
                walk(option["conditions"], [*path, "choose", i, "conditions"])
        elif kind == "if":
            walk(step["if"], [*path, "if"])
        elif kind == "repeat":
            for key in ("while", "until"):
                if key in step["repeat"]:
                    walk(step["repeat"][key], [*path, "repeat", key])
    return out
