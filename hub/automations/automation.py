"""One automation: its principal, triggers, conditions, the run of its actions, and its mode.

Modes decide what a trigger does while a run is in progress:

    single    ignore the new trigger
    restart   cancel the run in progress and start again
    queued    run after the current one; at most `max` runs waiting or in progress
    parallel  run alongside; at most `max` runs at once

Device actions go through `hub.pipeline.execute` as the automation's principal with source
"automation": validated, governed and audited like any other request. A denied or failed
action ends the run (unless the step says `continue_on_error`). A pipeline call is shielded
from cancellation (restart, reload, stop) so that its audit outcome is always written.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from hub.automations.conditions import build_condition
from hub.automations.triggers import Trigger, WebhookTrigger, build_trigger
from hub.errors import Forbidden, HubError
from hub.maturity import Maturity
from hub.model import Principal
from hub.tasks import OwnedTasks

if TYPE_CHECKING:
    from hub.automations.engine import AutomationEngine
    from hub.automations.localtime import TimeZone
    from hub.events import Event

_LOGGER = logging.getLogger("hub.automations")


class Automation:
    def __init__(self, engine: AutomationEngine, config: dict[str, Any], tz: TimeZone) -> None:
        self.engine = engine
        self.hub = engine.hub
        self.clock = engine.hub.clock
        self.config = config
        self.tz = tz
        self.id: str = config["id"]
        self.mode: str = config["mode"]
        self.max_runs: int = config["max"]
        self.principal = Principal(
            # "automation:" cannot start a token name, so no agent can pose as an automation
            # in audit filters or governance rules.
            id=f"automation:{self.id}", name=f"automation:{self.id}", kind="automation",
            maturity=Maturity[config["maturity"]])
        self.triggers: list[Trigger] = [build_trigger(self, t) for t in config["triggers"]]
        self.conditions = [build_condition(c, self.hub, tz) for c in config["conditions"]]
        self._runs: set[asyncio.Task] = set()
        self._queue: deque[tuple[dict[str, Any], Any]] = deque()
        self._timers = OwnedTasks(_LOGGER, "automation trigger")
        self._active = False
        # what status() reports
        self.runs = 0
        self.skipped = 0
        self.last_triggered: float | None = None
        self.last_trigger: dict[str, Any] | None = None
        self.last_result: str | None = None
        self.last_error: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.config.get("enabled", True))

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
        self._queue.clear()
        runs = list(self._runs)
        for task in runs:
            task.cancel()
        await asyncio.gather(self._timers.cancel_all(), *runs, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """A timer task of a trigger, cancelled when the automation stops."""
        return self._timers.spawn(coro, f"automation:{self.id}")

    # -- triggering ---------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        for trigger in self.triggers:
            if event.type in trigger.event_types:
                trigger.on_event(event)

    def caused(self, event: Event) -> bool:
        """Whether the event comes from this automation's own doing."""
        data = event.data
        if event.type == "action":
            return data.get("principal") == self.principal.name and data.get(
                "source") == "automation"
        if event.type == "automation":
            return data.get("automation_id") == self.id
        return False

    def trigger(self, info: dict[str, Any], data: Any = None) -> bool:
        """A trigger fired: check the conditions, then start, queue or skip a run according to
        the mode. Synchronous (called from bus listeners). True when a run starts or queues."""
        if not self._active:
            return False
        self.last_triggered = self.clock.time()
        self.last_trigger = info
        if not all(check() for check in self.conditions):
            self._skip(info, "conditions not met")
            return False
        if self.mode == "single" and self._runs:
            self._skip(info, "already running (mode single)")
            return False
        if self.mode == "restart":
            for task in self._runs:
                task.cancel()
        elif self.mode == "queued" and self._runs:
            if len(self._runs) + len(self._queue) >= self.max_runs:
                self._skip(info, f"queue full (max {self.max_runs})")
                return False
            self._queue.append((info, data))
            return True
        elif self.mode == "parallel" and len(self._runs) >= self.max_runs:
            self._skip(info, f"already {self.max_runs} runs (mode parallel)")
            return False
        self._start_run(info, data)
        return True

    def _skip(self, info: dict[str, Any], reason: str) -> None:
        self.skipped += 1
        _LOGGER.debug("automation %s skipped: %s", self.id, reason)
        self._publish("skipped", trigger=info["trigger"], reason=reason)

    def _start_run(self, info: dict[str, Any], data: Any) -> None:
        self.runs += 1
        task = asyncio.get_running_loop().create_task(
            self._run(info, data), name=f"automation-run:{self.id}")
        self._runs.add(task)
        task.add_done_callback(self._run_done)

    def _run_done(self, task: asyncio.Task) -> None:
        self._runs.discard(task)
        if self.mode == "queued" and self._queue and self._active and not self._runs:
            self._start_run(*self._queue.popleft())

    # -- running ------------------------------------------------------------------------------

    async def _run(self, info: dict[str, Any], data: Any) -> None:
        self._publish("started", trigger=info["trigger"])
        result, error = "ok", None
        try:
            for step in self.config["actions"]:
                if "delay" in step:
                    await self.clock.sleep(step["delay"])
                    continue
                try:
                    await self._act(step)
                except HubError as err:
                    error = err.as_dict()
                    self.last_error = {**error, "device": step["device"],
                                       "action": step["action"]}
                    _LOGGER.warning("automation %s: %s %s failed: %s", self.id,
                                    step["device"], step["action"], err.message)
                    if not step.get("continue_on_error"):
                        result = "denied" if isinstance(err, Forbidden) else "failed"
                        break
        except asyncio.CancelledError:
            result = "cancelled"
            raise
        except Exception as err:  # a bug must not kill the engine; it is reported
            _LOGGER.exception("automation %s crashed", self.id)
            result, error = "failed", {"code": "internal_error", "message": str(err)}
        finally:
            self.last_result = result
            self._publish("finished", trigger=info["trigger"], result=result,
                          **({"error": error} if error and result != "ok" else {}))

    async def _act(self, step: dict[str, Any]) -> Any:
        call = self.hub.pipeline.execute(
            self.principal, step["device"], step["action"], dict(step["params"]),
            source="automation")
        # Shielded: cancelling the run must not cut the pipeline between its decision and
        # outcome records. The engine keeps the task alive and awaits it at stop.
        return await asyncio.shield(self.engine.keep(call))

    def _publish(self, status: str, **data: Any) -> None:
        self.hub.bus.publish("automation", {"automation_id": self.id, "status": status, **data})

    # -- reporting ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "alias": self.config.get("alias", self.id),
            "enabled": self.enabled,
            "mode": self.mode,
            "max": self.max_runs,
            "maturity": self.principal.maturity.name,
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
        }
