"""One run of an automation's actions: Home Assistant's script language, under governance.

    device action   `action` on one or several targets (ids, globs, `name:`, templates);
                    each target is one request through `hub.pipeline.execute` as the
                    automation's principal, audited with {automation, run, step}
    delay           wait on the hub's clock
    wait_template   wait until a template is true (timeout, continue_on_timeout)
    wait_for_trigger  wait until one of some triggers fires (timeout, continue_on_timeout)
    choose / if     run the first option whose conditions hold / then or else
    repeat          count, while, until or for_each, with the `repeat` variable
    parallel        branches at the same time; sequence: a group of steps
    variables       set variables for the following steps
    stop            end the run (as an error with `error: true`)
    event           fire a custom event (other automations' event triggers see it)
    condition       a condition as a step: the run stops quietly when it does not hold

Variables live in scopes, like Home Assistant's since 2025.4: a `variables` step changes a
variable where it was defined (an outer block included) and defines a new one in the current
block; the branches of `parallel` never change each other's or outer variables.

A device action that is denied or fails ends the run unless the step says
`continue_on_error: true`. A template that fails ends the run with its message. Every loop is
bounded (MAX_ITERATIONS) and yields to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from hub.automations import ha
from hub.automations.conditions import Check, CheckEnv, build_condition, build_conditions
from hub.automations.schema import step_kind
from hub.automations.states import NAME_PREFIX
from hub.automations.template import TemplateError, render, render_condition
from hub.automations.trace import Trace, path_text
from hub.automations.triggers import Trigger, build_triggers
from hub.automations.values import duration, is_glob
from hub.errors import HubError, InvalidRequest

if TYPE_CHECKING:
    from hub.automations.automation import Automation
    from hub.events import Event

_LOGGER = logging.getLogger("hub.automations")

MAX_ITERATIONS = 10_000  # of one repeat step in one run
WAIT_TICK = 60.0  # a wait_template is checked at least this often (for now())


class RunStopped(Exception):
    """A `stop` step, a condition step that did not hold, or a wait that timed out."""

    def __init__(self, message: str, *, error: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.error = error


class Scope:
    """Variables of one block; reads see the enclosing blocks' too."""

    def __init__(self, parent: Scope | None = None, values: dict[str, Any] | None = None,
                 *, isolated: bool = False) -> None:
        self.parent = parent
        self.values: dict[str, Any] = dict(values or {})
        self.isolated = isolated  # a parallel branch: never writes outside itself

    def flat(self) -> dict[str, Any]:
        chain: list[Scope] = []
        scope: Scope | None = self
        while scope is not None:
            chain.append(scope)
            scope = scope.parent
        out: dict[str, Any] = {}
        for item in reversed(chain):
            out.update(item.values)
        return out

    def child(self, values: dict[str, Any] | None = None, *, isolated: bool = False) -> Scope:
        return Scope(self, values, isolated=isolated)

    def assign(self, name: str, value: Any) -> None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.values:
                scope.values[name] = value
                return
            if scope.isolated:
                break
            scope = scope.parent
        self.values[name] = value


class _WaitOwner:
    """The owner of the triggers of one wait_for_trigger: the first to fire ends the wait."""

    def __init__(self, automation: Automation, done: asyncio.Future) -> None:
        self.automation = automation
        self.id = automation.id
        self.hub = automation.hub
        self.view = automation.view
        self.tz = automation.tz
        self.label = automation.label
        self.done = done

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        return self.automation.spawn(coro)

    def fire(self, trigger: Trigger, data: dict[str, Any]) -> bool:
        if self.done.done():
            return False
        self.done.set_result(data)
        return True

    def caused(self, event: Event) -> bool:
        return self.automation.caused(event)


class Run:
    """The execution of one run's actions; `execute` raises what ends the run early."""

    def __init__(self, automation: Automation, run_id: str, trace: Trace,
                 variables: dict[str, Any]) -> None:
        self.automation = automation
        self.hub = automation.hub
        self.clock = automation.hub.clock
        self.view = automation.view
        self.run_id = run_id
        self.trace = trace
        self.root = Scope(None, variables)
        self.env = CheckEnv(automation.view, automation.tz, trace)

    async def execute(self) -> None:
        await self._sequence(self.automation.config["actions"], ["actions"], self.root)

    # -- structure --------------------------------------------------------------------------

    async def _sequence(self, steps: list[dict[str, Any]], base: list[Any],
                        scope: Scope) -> None:
        for index, step in enumerate(steps):
            await self._step(step, [*base, index], scope)

    async def _step(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> None:
        kind = step_kind(step)
        record = self.trace.step(path_text(keys), kind, step.get("alias"))
        if not step.get("enabled", True):
            self.trace.end_step(record, {"enabled": False})
            return
        before = dict(scope.values)
        try:
            result = await _HANDLERS[kind](self, step, keys, scope)
        except HubError as err:
            err.extra.setdefault("step", path_text(keys))
            self.trace.end_step(record, None, error=err.as_dict())
            if step.get("continue_on_error"):
                _LOGGER.info("%s: %s failed, continuing: %s", self.automation.label,
                             path_text(keys), err.message)
                self.automation.last_error = err.as_dict()
                return
            raise
        except RunStopped as stop:
            self.trace.end_step(record, {"stop": stop.message, "error": stop.error})
            raise
        except TemplateError as err:
            err.step = err.step or path_text(keys)
            self.trace.end_step(record, None, error={"code": "template_error",
                                                     "message": str(err)})
            raise
        except asyncio.CancelledError:
            self.trace.end_step(record, {"cancelled": True})
            raise
        changed = {k: v for k, v in scope.values.items()
                   if k not in before or before[k] is not v}
        self.trace.end_step(record, result, changed=changed)

    def _check(self, configs: list[dict[str, Any]], keys: list[Any]) -> Check:
        return self.automation.checks(path_text(keys), lambda: build_conditions(configs, keys))

    # -- steps ------------------------------------------------------------------------------

    async def _device(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        variables = scope.flat()
        context = self.view.render_context
        refs = _refs(render(step["device"], variables, context))
        params = render(step.get("params") or {}, variables, context)
        if not isinstance(params, dict):
            raise InvalidRequest(f"params rendered to {type(params).__name__}, not a mapping",
                                 code="invalid_params")
        name = step["action"]
        service = ha.is_service(name)
        offered = ha.HUB_ACTIONS[name.partition(".")[2]] if service else (name,)
        targets: list[str] = []
        for ref in refs:
            if is_glob(ref):
                targets.extend(d for d in self.view.resolve([ref]) if d not in targets and any(
                    a in self.hub.registry.get(d).actions for a in offered))
            elif ref not in targets:
                # An id, or a `name:` reference the pipeline resolves.
                targets.append(ref)
        requests = [ha.translate(name, params, self.view.state_object(device_id)) if service
                    else (name, params) for device_id in targets]
        outcomes = await asyncio.gather(*(
            self._act(device_id, action, hub_params, path_text(keys))
            for device_id, (action, hub_params) in zip(targets, requests, strict=True)),
            return_exceptions=True)
        results = []
        failure: BaseException | None = None
        for device_id, outcome in zip(targets, outcomes, strict=True):
            if isinstance(outcome, HubError):
                results.append({"device": device_id, "error": outcome.as_dict()})
                failure = failure or outcome
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results.append({"device": device_id, "outcome": "ok",
                                "correlation_id": outcome.get("correlation_id")})
        if failure is not None:
            if len(targets) > 1 and isinstance(failure, HubError):
                failure.extra.setdefault("targets", results)
            raise failure
        return {"action": name, "params": params, "targets": results,
                **({} if targets else {"note": "no device matched"})}

    async def _act(self, device_id: str, action: str, params: dict[str, Any],
                   step: str) -> Any:
        call = self.hub.pipeline.execute(
            self.automation.principal, device_id, action, dict(params), source="automation",
            context={"automation": self.automation.id, "run": self.run_id, "step": step})
        # Shielded: cancelling the run must not cut the pipeline between its decision and
        # outcome records. The engine keeps the task alive and awaits it at stop.
        return await asyncio.shield(self.automation.engine.keep(call))

    async def _delay(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        seconds = self._duration(step["delay"], scope, "delay")
        await self.clock.sleep(seconds)
        return {"delay": seconds, "done": True}

    def _duration(self, value: Any, scope: Scope, what: str) -> float:
        rendered = render(value, scope.flat(), self.view.render_context)
        try:
            return duration(rendered)
        except Exception:
            raise TemplateError(f"{what} rendered to {rendered!r}, not a duration") from None

    def _timeout(self, step: dict[str, Any], scope: Scope) -> float | None:
        if "timeout" not in step:
            return None
        return self._duration(step["timeout"], scope, "timeout")

    async def _race(self, done: asyncio.Future, timeout: float | None) -> bool:
        """Wait for `done` at most `timeout` seconds of the hub's clock."""
        if timeout is None:
            await asyncio.shield(done)
            return True
        sleeper = asyncio.ensure_future(self.clock.sleep(timeout))
        try:
            await asyncio.wait({done, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        return done.done()

    def _remaining(self, timeout: float | None, started: float) -> float | None:
        if timeout is None:
            return None
        return max(0.0, timeout - (self.clock.monotonic() - started))

    async def _wait_template(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        source = step["wait_template"]
        timeout = self._timeout(step, scope)
        started = self.clock.monotonic()
        context = self.view.render_context
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def check(_event: Any = None) -> None:
            if done.done():
                return
            try:
                if render_condition(source, scope.flat(), context):
                    done.set_result(True)
            except TemplateError as err:
                done.set_exception(err)

        check()
        remove = self.automation.watch_states(check)
        ticker = self.automation.spawn(self._tick(check, done))
        try:
            completed = await self._race(done, timeout)
        finally:
            remove()
            ticker.cancel()
        if completed:
            done.result()  # a template error raises here
        wait = {"completed": completed, "remaining": self._remaining(timeout, started)}
        scope.assign("wait", wait)
        if not completed and not step.get("continue_on_timeout", True):
            raise RunStopped("timed out waiting for the template")
        return {"wait": wait}

    async def _tick(self, check: Callable[[], None], done: asyncio.Future) -> None:
        while not done.done():
            await self.clock.sleep(WAIT_TICK)
            check()

    async def _wait_for_trigger(self, step: dict[str, Any], keys: list[Any],
                                scope: Scope) -> Any:
        timeout = self._timeout(step, scope)
        started = self.clock.monotonic()
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        owner = _WaitOwner(self.automation, done)
        triggers = build_triggers(owner, step["wait_for_trigger"])
        remove = self.automation.watch_events(triggers)
        for trigger in triggers:
            trigger.start()
        try:
            fired = await self._race(done, timeout)
        finally:
            remove()
            await asyncio.gather(*(t.stop() for t in triggers), return_exceptions=True)
        data = done.result() if fired else None
        wait = {"trigger": data, "remaining": self._remaining(timeout, started)}
        scope.assign("wait", wait)
        if not fired and not step.get("continue_on_timeout", True):
            raise RunStopped("timed out waiting for a trigger")
        return {"wait": {"trigger": _short(data), "remaining": wait["remaining"]}}

    async def _choose(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        variables = scope.flat()
        for index, option in enumerate(step["choose"]):
            check = self._check(option["conditions"], [*keys, "choose", index, "conditions"])
            if check(self.env, variables):
                await self._sequence(option["sequence"], [*keys, "choose", index, "sequence"],
                                     scope.child())
                return {"choice": index}
        if "default" in step:
            await self._sequence(step["default"], [*keys, "default"], scope.child())
            return {"choice": "default"}
        return {"choice": None}

    async def _if(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        check = self._check(step["if"], [*keys, "if"])
        if check(self.env, scope.flat()):
            await self._sequence(step["then"], [*keys, "then"], scope.child())
            return {"choice": "then"}
        if "else" in step:
            await self._sequence(step["else"], [*keys, "else"], scope.child())
            return {"choice": "else"}
        return {"choice": None}

    async def _repeat(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        spec = step["repeat"]
        sequence, base = spec["sequence"], [*keys, "repeat", "sequence"]
        context = self.view.render_context
        items: list[Any] | None = None
        count: int | None = None
        if "count" in spec:
            rendered = render(spec["count"], scope.flat(), context)
            try:
                count = int(rendered)
            except (TypeError, ValueError):
                raise TemplateError(f"repeat count rendered to {rendered!r}") from None
        elif "for_each" in spec:
            rendered = render(spec["for_each"], scope.flat(), context)
            items = rendered if isinstance(rendered, list) else [rendered]
            count = len(items)
        if count is not None and count > MAX_ITERATIONS:
            raise TemplateError(f"repeat is limited to {MAX_ITERATIONS} iterations")
        index = done = 0
        while True:
            index += 1
            if index > MAX_ITERATIONS:
                raise RunStopped(f"repeat stopped after {MAX_ITERATIONS} iterations",
                                 error=True)
            if count is not None and index > count:
                break
            variables: dict[str, Any] = {"first": index == 1, "index": index}
            if count is not None:
                variables["last"] = index == count
            if items is not None:
                variables["item"] = items[index - 1]
            iteration = scope.child({"repeat": variables})
            if "while" in spec:
                check = self._check(spec["while"], [*keys, "repeat", "while"])
                if not check(self.env, iteration.flat()):
                    break
            await self._sequence(sequence, base, iteration)
            done += 1
            if "until" in spec:
                check = self._check(spec["until"], [*keys, "repeat", "until"])
                if check(self.env, iteration.flat()):
                    break
            await asyncio.sleep(0)  # a loop without delays must not hold the event loop
        return {"iterations": done}

    async def _parallel(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        branches = [self._step(branch, [*keys, "parallel", index],
                               scope.child(isolated=True))
                    for index, branch in enumerate(step["parallel"])]
        outcomes = await asyncio.gather(*branches, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return {"branches": len(branches)}

    async def _group(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        await self._sequence(step["sequence"], [*keys, "sequence"], scope.child())
        return None

    async def _variables(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        context = self.view.render_context
        for name, value in step["variables"].items():
            scope.assign(name, render(value, scope.flat(), context))
        return None

    async def _stop(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        raise RunStopped(step["stop"], error=bool(step.get("error")))

    async def _event(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        data = render(step.get("event_data") or {}, scope.flat(), self.view.render_context)
        if not isinstance(data, dict):
            raise TemplateError("event_data rendered to something other than a mapping")
        self.automation.fire_event(step["event"], data, self.run_id)
        return {"event": step["event"], "event_data": data}

    async def _condition(self, step: dict[str, Any], keys: list[Any], scope: Scope) -> Any:
        check = self.automation.checks(path_text(keys), lambda: build_condition(step, keys))
        if not check(self.env, scope.flat()):
            raise RunStopped(f"condition {path_text(keys)} did not hold")
        return {"result": True}


_HANDLERS: dict[str, Callable[[Run, dict[str, Any], list[Any], Scope],
                              Coroutine[Any, Any, Any]]] = {
    "device": Run._device,
    "delay": Run._delay,
    "wait_template": Run._wait_template,
    "wait_for_trigger": Run._wait_for_trigger,
    "choose": Run._choose,
    "if": Run._if,
    "repeat": Run._repeat,
    "parallel": Run._parallel,
    "sequence": Run._group,
    "variables": Run._variables,
    "stop": Run._stop,
    "event": Run._event,
    "condition": Run._condition,
}


def _refs(value: Any) -> list[str]:
    """The device references a rendered target holds (a string, a comma list, a list)."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, list):
            out.extend(_refs(item))
        elif isinstance(item, str) and item.strip():
            parts = [item] if item.startswith(NAME_PREFIX) else item.split(",")
            out.extend(p.strip() for p in parts if p.strip())
        else:
            raise InvalidRequest(f"the target rendered to {item!r}, not a device id",
                                 code="invalid_target")
    return ["*" if ref == "all" else ref for ref in out]


def _short(data: Mapping[str, Any] | None) -> Any:
    from hub.automations.triggers import summary

    return summary(data) if data else None
