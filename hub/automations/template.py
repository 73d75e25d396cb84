"""Templates: Jinja2 in the sandbox, rendered the way Home Assistant renders them.

A string value containing `{{`, `{%` or `{#` is a template. Templates are compiled when the
configuration is validated (a syntax error is a config error with its file and line) and
rendered when the automation needs the value, with the run's variables (`trigger`, `this`,
the automation's `variables`, `repeat`, `wait`, ...) and helpers that read the hub:

    state('demo.player_1')            'playing'   (also states(...); 'unknown' if no device)
    state_attr('demo.player_1', 'volume')         30
    is_state('demo.player_1', ['playing', 'paused'])
    is_state_attr('demo.player_1', 'source', 'Radio')
    has_value('demo.player_1')        false when unknown or unavailable
    states.demo.player_1.attributes.volume        the state object, HA style
    states['demo.player_1'].last_changed          (also by a computed id)
    now(), utcnow(), today_at('22:00'), as_timestamp(...), as_datetime(...), timedelta(...)
    float(x, default) / int(x, default) / bool(x, default), iif(...), is_number(x)

As in Home Assistant, a rendered value that reads as a Python literal becomes that type
(`"{{ 30 + 5 }}"` is the integer 35, `"[1, 2]"` a list), except strings and numbers written
with leading zeros. A template condition holds only when it renders to `true`.

Limits, so that a mistaken template fails its run and never the hub: a render may take at most
TIME_LIMIT seconds of CPU on the event loop (checked from a trace hook, so a runaway loop is
stopped), its output and every string it builds with `*`, `+`, `~`, `%` or `replace` at most
MAX_OUTPUT characters, and `range` at most 10,000 items. The sandbox refuses access to
private attributes and to methods that change objects. Any failure raises TemplateError with
a message that says what went wrong.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import json
import math
import operator
import re
import sys
import time
from ast import literal_eval
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATE_RE = re.compile(r"\{\{|\{%|\{#")
MAX_OUTPUT = 64 * 1024  # characters a render (and any string it builds) may reach
MAX_SOURCE = 16 * 1024  # characters of one template
MAX_RANGE = 10_000
TIME_LIMIT = 0.5  # seconds of CPU a render may use (the thread's, so a busy machine that
# schedules the hub late does not fail a template)
_CHECK_EVERY = 64  # trace events between two clock readings

# Home Assistant's rule for "this rendered string is a number": no leading zeros (so "0123",
# a code, stays a string), no exponent, no complex numbers.
_IS_NUMERIC = re.compile(r"^[+-]?(?!0\d)\d*(?:\.\d*)?$")
_FORMAT_WIDTH = re.compile(r"%[-#0 +]*(\d+)?(?:\.(\d+))?")


class TemplateError(Exception):
    """A template failed to compile or render; the message says why (and which template).
    `step` is the trace path of the step that rendered it, when one did."""

    step: str | None = None


def is_template(value: Any) -> bool:
    return isinstance(value, str) and TEMPLATE_RE.search(value) is not None


def has_template(value: Any) -> bool:
    """Whether a value (a string, or a list or mapping nesting them) holds a template."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, Mapping):
        return any(has_template(k) or has_template(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_template(v) for v in value)
    return False


# -- what templates can read ------------------------------------------------------------------


@dataclass(frozen=True)
class RenderContext:
    """The hub as templates see it while one render runs (set by `render_text`)."""

    device: Callable[[str], Mapping[str, Any] | None]  # a device's state object or None
    devices: Callable[[], list[Mapping[str, Any]]]  # every device's state object
    time: Callable[[], float]  # wall-clock epoch seconds (the hub's clock)
    tz: dt.tzinfo | None  # the hub's time zone (None: the system's)


# What the helpers read while one render runs (set and reset around it by render_text).
_CONTEXT: contextvars.ContextVar[RenderContext | None] = contextvars.ContextVar(
    "hub_template_context", default=None)


def _ctx() -> RenderContext:
    context = _CONTEXT.get()
    if context is None:
        raise TemplateError("no hub to read states from here")
    return context


def _state_object(device_id: Any) -> Mapping[str, Any] | None:
    if not isinstance(device_id, str):
        return None
    return _ctx().device(device_id)


def _states(device_id: Any) -> str:
    state = _state_object(device_id)
    return "unknown" if state is None else str(state["state"])


def _state_attr(device_id: Any, name: Any) -> Any:
    state = _state_object(device_id)
    if state is None or not isinstance(name, str):
        return None
    return state["attributes"].get(name)


def _is_state(device_id: Any, value: Any) -> bool:
    state = _state_object(device_id)
    if state is None:
        return False
    if isinstance(value, list | tuple):
        return state["state"] in value
    return bool(state["state"] == value)


def _is_state_attr(device_id: Any, name: Any, value: Any) -> bool:
    state = _state_object(device_id)
    if state is None or not isinstance(name, str) or name not in state["attributes"]:
        return False
    return bool(state["attributes"][name] == value)


def _has_value(device_id: Any) -> bool:
    return _states(device_id) not in ("unknown", "unavailable")


# Attributes Jinja and its sandbox look up on callables; never plugin or device names here.
_RESERVED = frozenset({"unsafe_callable", "alters_data", "jinja_pass_arg", "contextfunction",
                       "evalcontextfunction", "environmentfunction"})


class _PluginStates:
    """`states.demo` : the devices of one plugin, `states.demo.player_1` one of them."""

    def __init__(self, plugin: str) -> None:
        self._plugin = plugin

    def __getattr__(self, name: str) -> Mapping[str, Any] | None:
        if name.startswith("_") or name in _RESERVED:
            raise AttributeError(name)
        return _state_object(f"{self._plugin}.{name}")

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        prefix = f"{self._plugin}."
        return iter(sorted((d for d in _ctx().devices() if str(d["id"]).startswith(prefix)),
                           key=lambda d: str(d["id"])))

    def __repr__(self) -> str:
        return f"<states of plugin {self._plugin}>"


class _AllStates:
    """`states('id')`, `states.plugin.device`, `states['plugin.device']`, and iteration over
    every device."""

    def __call__(self, device_id: Any) -> str:
        return _states(device_id)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str) and "." in key:
            return _state_object(key)
        return _PluginStates(str(key))

    def __getattr__(self, name: str) -> _PluginStates:
        if name.startswith("_") or name in _RESERVED:
            raise AttributeError(name)
        return _PluginStates(name)

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(sorted(_ctx().devices(), key=lambda d: str(d["id"])))

    def __repr__(self) -> str:
        return "<states>"


def _now() -> dt.datetime:
    context = _ctx()
    moment = dt.datetime.fromtimestamp(context.time(), context.tz)
    return moment if moment.tzinfo else moment.astimezone()


def _utcnow() -> dt.datetime:
    return dt.datetime.fromtimestamp(_ctx().time(), dt.UTC)


def _today_at(value: str = "00:00") -> dt.datetime:
    from hub.automations.values import parse_time_of_day, time_of_day

    try:
        hours, minutes, seconds = parse_time_of_day(time_of_day(value))
    except Exception:
        raise TemplateError(f"today_at: invalid time {value!r}") from None
    return _now().replace(hour=hours, minute=minutes, second=seconds, microsecond=0)


_MISSING = object()


def _as_datetime(value: Any, default: Any = _MISSING) -> Any:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_now().tzinfo)
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(float(value), dt.UTC)
        if isinstance(value, str):
            try:
                return dt.datetime.fromtimestamp(float(value), dt.UTC)
            except ValueError:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=_now().tzinfo)
    except (ValueError, OverflowError, OSError):
        pass
    if default is _MISSING:
        raise TemplateError(f"as_datetime got an invalid input {_shown(value)}")
    return default


def _as_timestamp(value: Any, default: Any = _MISSING) -> Any:
    moment = _as_datetime(value, None)
    if moment is None:
        if default is _MISSING:
            raise TemplateError(f"as_timestamp got an invalid input {_shown(value)}")
        return default
    return moment.timestamp()


def _as_local(value: Any) -> dt.datetime:
    moment = _as_datetime(value)
    context = _ctx()
    return moment.astimezone(context.tz) if context.tz else moment.astimezone()


def _timedelta(*args: Any, **kwargs: Any) -> dt.timedelta:
    try:
        return dt.timedelta(*args, **kwargs)
    except (TypeError, OverflowError, ValueError) as err:
        raise TemplateError(f"timedelta: {err}") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _float(value: Any, default: Any = _MISSING) -> Any:
    try:
        return float(value)
    except (ValueError, TypeError, OverflowError):
        if default is _MISSING:
            raise TemplateError(
                f"float got an invalid input {_shown(value)} and no default was given") from None
        return default


def _int(value: Any, default: Any = _MISSING, base: int = 10) -> Any:
    try:
        if isinstance(value, str) and base != 10:
            return int(value, base)
        return int(float(value)) if isinstance(value, str) and "." in value else int(value)
    except (ValueError, TypeError, OverflowError):
        if default is _MISSING:
            raise TemplateError(
                f"int got an invalid input {_shown(value)} and no default was given") from None
        return default


_TRUE = {"true", "yes", "on", "enable", "1"}
_FALSE = {"false", "no", "off", "disable", "0", "none"}


def _bool(value: Any, default: Any = _MISSING) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not math.isnan(value):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if value is None:
        return False
    if default is _MISSING:
        raise TemplateError(f"bool got an invalid input {_shown(value)} and no default was given")
    return default


def _iif(value: Any, if_true: Any = True, if_false: Any = False,
         if_none: Any = _MISSING) -> Any:
    if value is None and if_none is not _MISSING:
        return if_none
    return if_true if bool(value) else if_false


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (ValueError, TypeError):
        return False
    return not (math.isinf(number) or math.isnan(number))


def _to_json(value: Any) -> str:
    return _checked(json.dumps(value, default=str, ensure_ascii=False))


def _from_json(value: Any) -> Any:
    try:
        return json.loads(value)
    except (ValueError, TypeError) as err:
        raise TemplateError(f"from_json: {err}") from None


# -- size and time limits ---------------------------------------------------------------------


def _checked(value: Any) -> Any:
    if isinstance(value, str | list | tuple | bytes) and len(value) > MAX_OUTPUT:
        raise TemplateError(f"the template built a value longer than {MAX_OUTPUT} characters")
    return value


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | bytes) else 0


def _safe_replace(value: Any, old: Any, new: Any, count: Any = None) -> str:
    text, old_s, new_s = str(value), str(old), str(new)
    occurrences = text.count(old_s) if old_s else len(text) + 1
    if count is not None:
        occurrences = min(occurrences, int(count))
    if len(text) + occurrences * (len(new_s) - len(old_s)) > MAX_OUTPUT:
        raise TemplateError(f"replace would build more than {MAX_OUTPUT} characters")
    return text.replace(old_s, new_s, -1 if count is None else int(count))


def _checked_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _checked(func(*args, **kwargs))

    return wrapper


class _Generator(CodeGenerator):
    """Compiles `a ~ b` (string concatenation) to a size-checked join."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            for seq, times in ((left, right), (right, left)):
                if (isinstance(seq, str | list | tuple) and isinstance(times, int)
                        and len(seq) * max(times, 0) > MAX_OUTPUT):
                    raise TemplateError(
                        f"the template built a value longer than {MAX_OUTPUT} characters")
            return operator.mul(left, right)
        if op == "**":
            if (isinstance(left, int) and isinstance(right, int) and abs(left) > 1
                    and right * math.log2(abs(left)) > 4096):
                raise TemplateError("the template computed a number too large")
            return operator.pow(left, right)
        if op == "+":
            if _sized(left) + _sized(right) > MAX_OUTPUT:
                raise TemplateError(
                    f"the template built a value longer than {MAX_OUTPUT} characters")
            return operator.add(left, right)
        if isinstance(left, str):  # op == "%": printf-style formatting
            for width, precision in _FORMAT_WIDTH.findall(left):
                if int(width or 0) > MAX_OUTPUT or int(precision or 0) > MAX_OUTPUT:
                    raise TemplateError("the template asked for a format width too large")
        return _checked(operator.mod(left, right))

    def checked_concat(self, values: tuple[Any, ...]) -> str:
        parts = [str(v) for v in values]
        if sum(len(p) for p in parts) > MAX_OUTPUT:
            raise TemplateError(
                f"the template built a value longer than {MAX_OUTPUT} characters")
        return "".join(parts)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # str methods that can allocate far more than their inputs
        name = getattr(__obj, "__name__", "")
        if isinstance(getattr(__obj, "__self__", None), str):
            if name == "replace" and len(args) >= 2:
                return _safe_replace(__obj.__self__, *args[:3])
            if name in ("ljust", "rjust", "center", "zfill", "expandtabs") and args and \
                    isinstance(args[0], int) and args[0] > MAX_OUTPUT:
                raise TemplateError(f"{name}: width larger than {MAX_OUTPUT}")
        return _checked(super().call(__context, __obj, *args, **kwargs))


def _range(*args: Any) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise TemplateError(f"range is limited to {MAX_RANGE} items")
    return rng


def _make_environment() -> _Environment:
    env = _Environment(undefined=jinja2.ChainableUndefined, autoescape=False,
                       keep_trailing_newline=False)
    env.globals.pop("lipsum", None)
    env.globals.update(
        range=_range, state=_states, states=_AllStates(), state_attr=_state_attr,
        is_state=_is_state, is_state_attr=_is_state_attr, has_value=_has_value, now=_now,
        utcnow=_utcnow, today_at=_today_at, as_datetime=_as_datetime,
        as_timestamp=_as_timestamp, as_local=_as_local, timedelta=_timedelta, float=_float,
        int=_int, bool=_bool, iif=_iif, is_number=_is_number, min=min, max=max)
    filters = {name: _checked_filter(func) for name, func in env.filters.items()}
    filters.update(
        replace=_safe_replace, float=_float, int=_int, bool=_bool, iif=_iif,
        is_number=_is_number, as_datetime=_as_datetime, as_timestamp=_as_timestamp,
        as_local=_as_local, to_json=_to_json, tojson=_to_json, from_json=_from_json,
        is_state=_is_state, state_attr=_state_attr, is_state_attr=_is_state_attr,
        has_value=_has_value)
    for name in ("center", "indent", "wordwrap", "format"):
        filters[name] = _width_checked(filters[name])
    env.filters.clear()
    env.filters.update(filters)
    env.tests.update(is_state=_is_state, has_value=_has_value, is_number=_is_number)
    return env


def _width_checked(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int) and not isinstance(arg, bool) and arg > MAX_OUTPUT:
                raise TemplateError(f"a width of {arg} is larger than {MAX_OUTPUT}")
        if isinstance(value, str):
            for width, precision in _FORMAT_WIDTH.findall(value):
                if int(width or 0) > MAX_OUTPUT or int(precision or 0) > MAX_OUTPUT:
                    raise TemplateError("the template asked for a format width too large")
        return func(value, *args, **kwargs)

    return wrapper


_ENV = _make_environment()


@functools.lru_cache(maxsize=4096)
def compile_template(source: str) -> jinja2.Template:
    """The compiled template (cached); TemplateError on a syntax error."""
    if len(source) > MAX_SOURCE:
        raise TemplateError(f"a template is at most {MAX_SOURCE} characters")
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"invalid template: {err.message} (line {err.lineno})") from None
    except RecursionError:
        raise TemplateError("invalid template: nested too deeply") from None


# -- rendering --------------------------------------------------------------------------------


class _Deadline:
    """A trace hook that stops a render that has used its CPU time."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.thread_time() + seconds
        self.events = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        self.events += 1
        if self.events % _CHECK_EVERY == 0 and time.thread_time() > self.deadline:
            raise _Timeout
        return self


class _Timeout(Exception):
    pass


def render_text(source: str, variables: Mapping[str, Any], hub: RenderContext | None) -> str:
    """Render a template to its text (stripped, as Home Assistant does), reading the hub
    through `hub`."""
    template = compile_template(source)
    tracer = _Deadline(TIME_LIMIT)
    previous = sys.gettrace()
    out: list[str] = []
    size = 0
    token = _CONTEXT.set(hub)
    sys.settrace(tracer)
    try:
        context = template.new_context(dict(variables))
        for chunk in template.root_render_func(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateError(f"the output is longer than {MAX_OUTPUT} characters")
            out.append(chunk)
    except _Timeout:
        raise TemplateError(f"rendering took longer than {TIME_LIMIT:g} s") from None
    except TemplateError:
        raise
    except jinja2.TemplateError as err:
        raise TemplateError(err.message or type(err).__name__) from None
    except RecursionError:
        raise TemplateError("rendering nested too deeply") from None
    except MemoryError:
        raise TemplateError("rendering ran out of memory") from None
    except Exception as err:  # a filter or helper given the wrong type, a division by zero
        raise TemplateError(f"{type(err).__name__}: {err}") from None
    finally:
        sys.settrace(previous)
        _CONTEXT.reset(token)
    return "".join(out).strip()


def parse_result(text: str) -> Any:
    """Home Assistant's native types: a literal becomes its value, other text stays text."""
    try:
        result = literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
    if isinstance(result, str | complex | bytes):
        return text
    if isinstance(result, int | float) and not isinstance(result, bool) \
            and _IS_NUMERIC.match(text) is None:
        return text
    return result


def render(value: Any, variables: Mapping[str, Any], hub: RenderContext | None) -> Any:
    """A config value with its templates rendered: strings that are templates become their
    (native) result; lists and mappings are rendered item by item; the rest is unchanged."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        try:
            return parse_result(render_text(value, variables, hub))
        except TemplateError as err:
            raise TemplateError(f"{err} in template {_excerpt(value)}") from None
    if isinstance(value, list):
        return [render(item, variables, hub) for item in value]
    if isinstance(value, dict):
        return {render(k, variables, hub): render(v, variables, hub) for k, v in value.items()}
    return value


def render_condition(source: str, variables: Mapping[str, Any],
                     hub: RenderContext | None) -> bool:
    """A template condition holds when the template renders to `true` (case-insensitive)."""
    try:
        return render_text(source, variables, hub).lower() == "true"
    except TemplateError as err:
        raise TemplateError(f"{err} in template {_excerpt(source)}") from None


def render_boolean(source: str, variables: Mapping[str, Any],
                   hub: RenderContext | None) -> bool:
    """The truthiness of a template trigger: true, yes, on, enable or a non-zero number."""
    try:
        text = render_text(source, variables, hub).lower()
    except TemplateError as err:
        raise TemplateError(f"{err} in template {_excerpt(source)}") from None
    if text in _TRUE:
        return True
    try:
        return float(text) != 0
    except ValueError:
        return False


def check_syntax(value: Any) -> None:
    """Compile every template inside `value`; TemplateError on the first bad one."""
    if isinstance(value, str):
        if is_template(value):
            compile_template(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_syntax(key)
            check_syntax(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_syntax(item)


def _excerpt(source: str) -> str:
    flat = " ".join(source.split())
    return repr(flat if len(flat) <= 80 else flat[:77] + "...")
