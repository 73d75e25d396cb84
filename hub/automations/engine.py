"""The automation engine: builds automations from the validated config, feeds them the hub's
events, routes webhooks to them, keeps their traces, runs them on request, turns them on and
off (remembered across restarts), and swaps them on reload without restarting the hub.

Enabled or disabled: an automation starts as its config says (`enabled`, default true). Turning
it on or off at run time (REST, WebSocket, `hub automations enable|disable`) is stored in the
database and wins at the next start, until the config's own `enabled` is edited (then the
config wins: the last change made is the one that counts). Home Assistant's `initial_state`
forces the state at every start.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import json
import logging
from collections.abc import Coroutine
from typing import Any

import voluptuous as vol

from hub.automations.automation import Automation
from hub.automations.check import Catalog, check_automations
from hub.automations.localtime import hub_time_zone
from hub.automations.schema import AUTOMATIONS_SCHEMA
from hub.automations.states import StateView
from hub.automations.trace import TraceStore
from hub.automations.triggers import WebhookTrigger
from hub.errors import ConfigError, Conflict, NotFound
from hub.events import Event
from hub.validation import problems

_LOGGER = logging.getLogger("hub.automations")

ENABLED_KEY = "automations.enabled"  # in the meta table: {id: {"enabled": b, "config": b}}


class AutomationEngine:
    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.automations: dict[str, Automation] = {}
        self.traces = TraceStore()
        self.view = StateView(hub, hub_time_zone(hub))
        self._remove_listener: Any = None
        self._background: set[asyncio.Task] = set()  # shielded pipeline calls
        self._lock = asyncio.Lock()
        self._started = False
        self._choices: dict[str, dict[str, bool]] = {}  # stored enable/disable choices

    async def start(self) -> None:
        async with self._lock:
            if self._started:
                return
            self._started = True
            self._choices = await self._load_choices()
            self._remove_listener = self.hub.bus.add_listener(self._on_event)
            self.view.seed()
            await self._apply(_validate(getattr(self.hub.config, "automations", None) or []))
        for automation in tuple(self.automations.values()):
            if automation.enabled:
                automation.hub_started()

    async def stop(self) -> None:
        async with self._lock:
            self._started = False
            if self._remove_listener is not None:
                self._remove_listener()
                self._remove_listener = None
            for automation in self.automations.values():
                await automation.stop()
            self.automations.clear()
            # Actions already in the pipeline finish (and are audited) before the hub stops.
            if self._background:
                await asyncio.gather(*self._background, return_exceptions=True)

    async def reload(self, automations: list) -> None:
        """Replace the automations. Unchanged ones keep running (with their timers and runs);
        changed and removed ones are stopped, which cancels their runs; new ones start."""
        validated = _validate(automations or [])
        async with self._lock:
            if not self._started:
                return  # start() reads hub.config.automations
            await self._apply(validated)
        _LOGGER.info("automations reloaded: %d configured", len(self.automations))

    async def _apply(self, configs: list[dict[str, Any]]) -> None:
        tz = hub_time_zone(self.hub)
        if tz != self.view.tz:
            self.view = StateView(self.hub, tz)
            self.view.seed()
        wanted = {c["id"]: c for c in configs}
        for automation_id, automation in list(self.automations.items()):
            if wanted.get(automation_id) != automation.config or automation.tz != tz:
                await automation.stop()
                del self.automations[automation_id]
        current = self.automations
        self.automations = {}
        for automation_id, config in wanted.items():  # config order
            kept = current.get(automation_id)
            if kept is None:
                kept = Automation(self, config, tz)
                kept.enabled = self._resolve_enabled(config)
                kept.start()
            self.automations[automation_id] = kept
        self.traces.retain(set(self.automations))
        self._check(configs)

    def _check(self, configs: list[dict[str, Any]]) -> None:
        """Check against the plugins and the devices known now; problems are logged and
        shown in status, never fatal (a plugin may come back, a device may appear)."""
        found = check_automations(configs, Catalog.of(self.hub.plugins),
                                  self.hub.registry.all())
        by_id: dict[str, list[dict[str, Any]]] = {c["id"]: [] for c in configs}
        for problem in found:
            automation_id = configs[problem.path[0]]["id"]
            where = self.hub.config.locate(["automations", *problem.path])
            by_id[automation_id].append({**problem.as_dict(), "where": where})
            log = _LOGGER.warning if problem.severity == "error" else _LOGGER.info
            log("automation %s: %s: %s", automation_id, where, problem.message)
        for automation_id, items in by_id.items():
            self.automations[automation_id].problems = items

    # -- enabled / disabled -----------------------------------------------------------------

    def _resolve_enabled(self, config: dict[str, Any]) -> bool:
        if "initial_state" in config:
            return bool(config["initial_state"])
        configured = bool(config.get("enabled", True))
        choice = self._choices.get(config["id"])
        if choice is not None and choice.get("config") == configured:
            return bool(choice.get("enabled"))
        return configured

    async def _load_choices(self) -> dict[str, dict[str, bool]]:
        storage = getattr(self.hub, "storage", None)
        if storage is None or storage.db is None:
            return {}
        row = await storage.fetchone("SELECT value FROM meta WHERE key = ?", (ENABLED_KEY,))
        if row is None:
            return {}
        try:
            data = json.loads(row[0])
        except ValueError:
            _LOGGER.warning("ignoring unreadable stored automation states")
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict)} \
            if isinstance(data, dict) else {}

    async def set_enabled(self, automation_id: str, enabled: bool) -> dict[str, Any]:
        """Turn an automation on or off now and remember it across restarts. Turning it off
        stops its triggers and cancels its runs (an action in the pipeline completes)."""
        async with self._lock:
            automation = self.get(automation_id)
            self._choices[automation_id] = {
                "enabled": enabled, "config": bool(automation.config.get("enabled", True))}
            async with self.hub.storage.transaction() as db:
                await db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (ENABLED_KEY, json.dumps(self._choices, sort_keys=True)))
            if enabled != automation.enabled:
                automation.enabled = enabled
                if enabled:
                    automation.start()
                else:
                    await automation.stop()
            return automation.status()

    # -- running on request -----------------------------------------------------------------

    def trigger_now(self, automation_id: str, *, variables: dict[str, Any] | None = None,
                    skip_condition: bool = True, run_id: str | None = None) -> dict[str, Any]:
        """Run an automation now (Home Assistant's automation.trigger): the trigger is
        `{platform: null}` and `variables` are the run's variables. Raises Conflict when it is
        disabled or its mode refuses another run."""
        automation = self.get(automation_id)
        if not automation.enabled:
            raise Conflict(f"automation {automation_id} is disabled; enable it first",
                           code="automation_disabled")
        data = {"platform": None, "trigger": "manual", "id": None, "idx": None,
                "alias": None, "description": "manual trigger"}
        started = automation.trigger(data, variables=variables,
                                     skip_condition=skip_condition, run_id=run_id)
        if started is None:
            raise Conflict(f"automation {automation_id} did not start: its mode "
                           f"({automation.mode}, max {automation.max_runs}) refused another "
                           f"run", code="max_exceeded")
        run, status = started
        return {"automation": automation_id, "run_id": run, "status": status}

    def get(self, automation_id: str) -> Automation:
        automation = self.automations.get(automation_id)
        if automation is None:
            raise NotFound(f"no automation {automation_id!r}", code="unknown_automation")
        return automation

    def traces_of(self, automation_id: str) -> list[dict[str, Any]]:
        self.get(automation_id)
        return self.traces.list(automation_id)

    # -- events and webhooks ----------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        # Called synchronously by the bus for every event: dispatch, never block.
        self.view.on_event(event)
        for automation in tuple(self.automations.values()):
            try:
                automation.on_event(event)
            except Exception:
                _LOGGER.exception("automation %s failed on %s", automation.id, event.type)

    def keep(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run `coro` as a task the engine holds until it finishes (see Run._act)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def webhook_triggers(self, webhook_id: str) -> list[WebhookTrigger]:
        """The triggers behind a webhook id (also those a run waits for); compared in
        constant time (the id is a credential)."""
        found = []
        given = webhook_id.encode()
        for automation in self.automations.values():
            if not automation.enabled:
                continue
            for trigger in automation.webhooks + automation.waiting_webhooks():
                if hmac.compare_digest(trigger.webhook_id.encode(), given):
                    found.append(trigger)
        return found

    def status(self) -> list[dict[str, Any]]:
        return [automation.status() for automation in self.automations.values()]


def _validate(automations: list) -> list[dict[str, Any]]:
    try:
        return AUTOMATIONS_SCHEMA(copy.deepcopy(automations))
    except vol.Invalid as err:
        lines = []
        for path, message in problems(err):
            dotted = ".".join(str(p) for p in path)
            lines.append(f"automations.{dotted}: {message}" if dotted else message)
        raise ConfigError("\n".join(lines)) from None
