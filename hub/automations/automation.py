"""One automation: its principal, triggers, conditions, runs, mode and traces.

When a trigger fires: the automation's `variables` are rendered (with `trigger` and `this`),
the conditions are checked (each result goes into the run's trace), and the mode decides:

    single    ignore the new trigger while a run is in progress
    restart   cancel the run in progress and start again
    queued    run after the current one; at most `max` runs waiting or in progress
    parallel  run alongside; at most `max` runs at once

A trigger the mode refuses is logged at `max_exceeded` (default warning; `silent` logs
nothing) and counted as skipped. Each run gets an id; its device actions go through the
pipeline as the automation's principal with the audit context {automation, run, step}.

Runs started by other automations' runs (an event they fired, a state their action changed)
carry a chain depth; past MAX_CHAIN links the run is refused, so two automations that
trigger each other cannot spin forever.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from hub.automations.conditions import Check, CheckEnv, build_conditions
from hub.automations.script import Run, RunStopped
from hub.automations.template import TemplateError, render
from hub.automations.trace import Trace
from hub.automations.triggers import (
    HubStartTrigger,
    Trigger,
    WebhookTrigger,
    build_triggers,
    summary,
)
from hub.errors import Forbidden, HubError
from hub.maturity import Maturity
from hub.model import Principal
from hub.tasks import OwnedTasks

if TYPE_CHECKING:
    from hub.automations.engine import AutomationEngine
    from hub.automations.localtime import TimeZone
    from hub.events import Event

_LOGGER = logging.getLogger("hub.automations")

MAX_CHAIN = 10
# How many automation runs led to the code running now (0 outside any run).
_CHAIN: contextvars.ContextVar[int] = contextvars.ContextVar("hub_automation_chain", default=0)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


class Automation:
    def __init__(self, engine: AutomationEngine, config: dict[str, Any], tz: TimeZone) -> None:
        self.engine = engine
        self.hub = engine.hub
        self.clock = engine.hub.clock
        self.view = engine.view
        self.config = config
        self.tz = tz
        self.id: str = config["id"]
        self.label = f"automation {self.id}"
        self.mode: str = config["mode"]
        self.max_runs: int = config["max"]
        self.keep_traces: int = config["trace"]["stored_traces"]
        self.principal = Principal(
            # "automation:" cannot start a token name, so no agent can pose as an automation
            # in audit filters or governance rules.
            id=f"automation:{self.id}", name=f"automation:{self.id}", kind="automation",
            maturity=Maturity[config["maturity"]])
        self.triggers: list[Trigger] = build_triggers(self, config["triggers"])
        self.conditions = build_conditions(config["conditions"], ["conditions"])
        self._checks: dict[str, Check] = {}
        self._runs: dict[asyncio.Task, str] = {}  # task -> run id
        self._queue: deque[tuple[dict[str, Any], Trace, int]] = deque()
        self._timers = OwnedTasks(_LOGGER, "automation task")
        self._watchers: set[Callable[[Event], None]] = set()
        self._waiting: set[Trigger] = set()  # triggers of wait_for_trigger steps
        self._firing = 0  # > 0 while this automation publishes its own event
        self._active = False
        self.enabled = bool(config.get("enabled", True))
        self.problems: list[dict[str, Any]] = []  # from the catalog check, for status
        # what status() reports
        self.runs = 0
        self.skipped = 0
        self.last_triggered: float | None = None
        self.last_trigger: dict[str, Any] | None = None
        self.last_result: str | None = None
        self.last_error: dict[str, Any] | None = None

    @property
    def webhooks(self) -> list[WebhookTrigger]:
        return [t for t in self.triggers if isinstance(t, WebhookTrigger)]

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled or self._active:
            return
        self._active = True
        for trigger in self.triggers:
            trigger.start()

    async def stop(self) -> None:
        self._active = False
        for _scope, trace, _depth in self._queue:
            trace.finish("stopped", "cancelled")
        self._queue.clear()
        runs = list(self._runs)
        for task in runs:
            task.cancel()
        await asyncio.gather(*(t.stop() for t in self.triggers), self._timers.cancel_all(),
                             *runs, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """A task of a trigger or a wait, cancelled when the automation stops."""
        return self._timers.spawn(coro, f"automation:{self.id}")

    def hub_started(self) -> None:
        for trigger in self.triggers:
            if isinstance(trigger, HubStartTrigger):
                trigger.fire_start()

    # -- events -------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        for trigger in self.triggers:
            if event.type in trigger.event_types:
                trigger.on_event(event)
        for watcher in tuple(self._watchers):
            watcher(event)

    def watch_states(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` on every state change until the returned function is called."""
        def watcher(event: Event) -> None:
            if event.type == "state_changed":
                callback()
        self._watchers.add(watcher)
        return lambda: self._watchers.discard(watcher)

    def watch_events(self, triggers: Iterable[Trigger]) -> Callable[[], None]:
        """Feed these (wait_for_trigger) triggers the bus events they want, and route their
        webhooks, until the returned function is called."""
        items = list(triggers)

        def watcher(event: Event) -> None:
            for trigger in items:
                if event.type in trigger.event_types:
                    trigger.on_event(event)

        def remove() -> None:
            self._watchers.discard(watcher)
            for trigger in items:
                self._waiting.discard(trigger)

        self._watchers.add(watcher)
        self._waiting.update(items)
        return remove

    def waiting_webhooks(self) -> list[WebhookTrigger]:
        """Webhook triggers of the runs waiting in wait_for_trigger."""
        return [t for t in self._waiting if isinstance(t, WebhookTrigger)]

    def caused(self, event: Event) -> bool:
        """Whether the event comes from this automation's own doing."""
        data = event.data
        if self._firing:
            return True  # its own custom event, published right now
        if event.type == "action":
            return data.get("principal") == self.principal.name and data.get(
                "source") == "automation"
        if event.type == "automation":
            return data.get("automation_id") == self.id
        return False

    def fire_event(self, event_type: str, data: dict[str, Any], run_id: str) -> None:
        self._firing += 1
        try:
            self.hub.bus.publish(event_type, data)
        finally:
            self._firing -= 1

    def checks(self, key: str, build: Callable[[], Check]) -> Check:
        """The compiled condition of a step (built once per automation)."""
        check = self._checks.get(key)
        if check is None:
            check = self._checks[key] = build()
        return check

    # -- triggering ---------------------------------------------------------------------------

    def fire(self, trigger: Trigger, data: dict[str, Any]) -> bool:
        """A trigger fired (synchronously, from a bus listener or a timer)."""
        if not self._active:
            return False
        started = self.trigger(data, trigger_config=trigger.config)
        return started is not None and started[1] in ("started", "queued")

    def trigger(self, data: dict[str, Any], *, trigger_config: dict[str, Any] | None = None,
                variables: dict[str, Any] | None = None, skip_condition: bool = False,
                run_id: str | None = None) -> tuple[str, str] | None:
        """Start, queue or refuse a run. Returns (run id, "started" | "queued" |
        "conditions_not_met") or None when the mode or the chain limit refused it."""
        depth = _CHAIN.get() + 1
        run_id = run_id or os.urandom(8).hex()
        self.last_triggered = self.clock.time()
        self.last_trigger = summary(data)
        trace = Trace(self.clock, self.id, run_id, data)
        if depth > MAX_CHAIN:
            self._skip(trace, f"started by a chain of {MAX_CHAIN} automation runs (a loop?)",
                       level="warning")
            return None
        scope = {**(variables or {}), "this": self._this(), "trigger": data}
        try:
            if trigger_config and trigger_config.get("variables"):
                scope.update(self._render_vars(trigger_config["variables"], scope))
            if self.config.get("variables"):
                scope.update(self._render_vars(self.config["variables"], scope))
            if not skip_condition and not self.conditions(
                    CheckEnv(self.view, self.tz, trace), scope):
                self.skipped += 1
                trace.finish("stopped", "conditions_not_met", variables=scope)
                self._store(trace)
                self._publish("skipped", run_id=run_id, trigger=self.last_trigger,
                              reason="conditions not met")
                return run_id, "conditions_not_met"
        except TemplateError as err:
            self._failed_before_run(trace, err, scope)
            return run_id, "failed"
        if self.mode == "single" and self._runs:
            self._skip(trace, "already running (mode single)")
            return None
        if self.mode == "restart":
            for task in self._runs:
                task.cancel()
        elif self.mode == "queued" and self._runs:
            if len(self._runs) + len(self._queue) >= self.max_runs:
                self._skip(trace, f"queue full (max {self.max_runs})")
                return None
            trace.data["state"] = "queued"
            self._store(trace)
            self._queue.append((scope, trace, depth))
            return run_id, "queued"
        elif self.mode == "parallel" and len(self._runs) >= self.max_runs:
            self._skip(trace, f"already {self.max_runs} runs (mode parallel)")
            return None
        self._store(trace)
        self._start_run(scope, trace, depth)
        return run_id, "started"

    def _render_vars(self, variables: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in variables.items():
            out[name] = render(value, {**scope, **out}, self.view.render_context)
        return out

    def _this(self) -> dict[str, Any]:
        """Home Assistant's `this`: the automation as a state object."""
        return {
            "entity_id": f"automation.{self.id}", "id": self.id,
            "state": "on" if self.enabled else "off",
            "attributes": {"id": self.id, "friendly_name": self.config.get("alias", self.id),
                           "mode": self.mode, "current": len(self._runs),
                           "last_triggered": self.last_triggered},
        }

    def _skip(self, trace: Trace, reason: str, level: str | None = None) -> None:
        self.skipped += 1
        name = level or self.config.get("max_exceeded", "warning")
        if name != "silent":
            _LOGGER.log(_LEVELS[name], "%s (%s): %s", self.label,
                        self.config.get("alias", self.id), reason)
        trace.finish("stopped", "skipped", reason=reason)
        self._store(trace)
        self._publish("skipped", run_id=trace.run_id, trigger=self.last_trigger, reason=reason)

    def _failed_before_run(self, trace: Trace, err: TemplateError,
                           scope: dict[str, Any]) -> None:
        error = {"code": "template_error", "message": str(err)}
        _LOGGER.warning("%s: %s", self.label, err)
        self.last_result, self.last_error = "failed", error
        trace.finish("stopped", "failed", error=error, variables=scope)
        self._store(trace)
        self._publish("finished", run_id=trace.run_id, trigger=self.last_trigger,
                      result="failed", error=error)

    def _store(self, trace: Trace) -> None:
        self.engine.traces.add(self.id, trace, self.keep_traces)

    def _start_run(self, scope: dict[str, Any], trace: Trace, depth: int) -> None:
        self.runs += 1
        context = contextvars.copy_context()
        context.run(_CHAIN.set, depth)
        task = asyncio.get_running_loop().create_task(
            self._run(scope, trace), name=f"automation-run:{self.id}", context=context)
        self._runs[task] = trace.run_id
        task.add_done_callback(self._run_done)

    def _run_done(self, task: asyncio.Task) -> None:
        self._runs.pop(task, None)
        if self.mode == "queued" and self._queue and self._active and not self._runs:
            scope, trace, depth = self._queue.popleft()
            trace.data["state"] = "running"
            self._start_run(scope, trace, depth)

    # -- running ------------------------------------------------------------------------------

    async def _run(self, scope: dict[str, Any], trace: Trace) -> None:
        run = Run(self, trace.run_id, trace, scope)
        trigger = summary(scope.get("trigger") or {})
        self._publish("started", run_id=trace.run_id, trigger=trigger)
        result, error, extra = "ok", None, {}
        try:
            await run.execute()
        except asyncio.CancelledError:
            result = "cancelled"
            raise
        except HubError as err:
            error = err.as_dict()
            result = "denied" if isinstance(err, Forbidden) else "failed"
            _LOGGER.warning("%s: %s", self.label, err.message)
        except RunStopped as stop:
            result = "failed" if stop.error else "stopped"
            extra["stop_reason"] = stop.message
            if stop.error:
                error = {"code": "stopped", "message": stop.message}
        except TemplateError as err:
            result, error = "failed", {"code": "template_error", "message": str(err),
                                       **({"step": err.step} if err.step else {})}
            _LOGGER.warning("%s: %s", self.label, err)
        except Exception as err:  # a bug must not kill the engine; it is reported
            _LOGGER.exception("%s crashed", self.label)
            result, error = "failed", {"code": "internal_error", "message": str(err)}
        finally:
            self.last_result = result
            if error is not None:
                self.last_error = error
            trace.finish("stopped" if result != "ok" else "finished", result, error=error,
                         variables=run.root.flat(), **extra)
            self._publish("finished", run_id=trace.run_id, trigger=trigger, result=result,
                          **({"error": error} if error else {}))

    def _publish(self, status: str, **data: Any) -> None:
        self.hub.bus.publish("automation", {"automation_id": self.id, "status": status, **data})

    # -- reporting ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "alias": self.config.get("alias", self.id),
            "description": self.config.get("description"),
            "enabled": self.enabled,
            "mode": self.mode,
            "max": self.max_runs,
            "maturity": self.principal.maturity.name if self.principal.maturity else None,
            "principal": self.principal.id,
            "triggers": [t.describe() for t in self.triggers],
            "running": len(self._runs),
            "queued": len(self._queue),
            "runs": self.runs,
            "skipped": self.skipped,
            "last_triggered": self.last_triggered,
            "last_trigger": self.last_trigger,
            "last_result": self.last_result,
            "last_error": self.last_error,
            "problems": self.problems,
        }
