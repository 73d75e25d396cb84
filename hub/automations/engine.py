"""The automation engine: builds automations from the validated config, feeds them the hub's
events, routes webhooks to them, and swaps them on reload without restarting the hub."""

from __future__ import annotations

import asyncio
import copy
import hmac
import logging
from collections.abc import Coroutine
from typing import Any

import voluptuous as vol

from hub.automations.automation import Automation
from hub.automations.localtime import hub_time_zone
from hub.automations.schema import AUTOMATIONS_SCHEMA
from hub.automations.triggers import WebhookTrigger
from hub.errors import ConfigError
from hub.events import Event

_LOGGER = logging.getLogger("hub.automations")


class AutomationEngine:
    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.automations: dict[str, Automation] = {}
        self._remove_listener: Any = None
        self._background: set[asyncio.Task] = set()  # shielded pipeline calls
        self._lock = asyncio.Lock()
        self._started = False

    async def start(self) -> None:
        async with self._lock:
            if self._started:
                return
            self._started = True
            self._remove_listener = self.hub.bus.add_listener(self._on_event)
            await self._apply(_validate(getattr(self.hub.config, "automations", None) or []))

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
        _LOGGER.info("automations reloaded: %d active", len(self.automations))

    async def _apply(self, configs: list[dict[str, Any]]) -> None:
        tz = hub_time_zone(self.hub)
        wanted = {c["id"]: c for c in configs}
        for automation_id, automation in list(self.automations.items()):
            if wanted.get(automation_id) != automation.config or automation.tz != tz:
                await automation.stop()
                del self.automations[automation_id]
        current = self.automations
        self.automations = {}
        for automation_id, config in wanted.items():  # config order
            automation = current.get(automation_id)
            if automation is None:
                automation = Automation(self, config, tz)
                automation.start()
            self.automations[automation_id] = automation

    def _on_event(self, event: Event) -> None:
        # Called synchronously by the bus for every event: dispatch, never block.
        for automation in tuple(self.automations.values()):
            try:
                automation.on_event(event)
            except Exception:
                _LOGGER.exception("automation %s failed on %s", automation.id, event.type)

    def keep(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run `coro` as a task the engine holds until it finishes (see Automation._act)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def webhook_triggers(self, webhook_id: str) -> list[WebhookTrigger]:
        """The triggers behind a webhook id; compared in constant time (it is a credential)."""
        found = []
        given = webhook_id.encode()
        for automation in self.automations.values():
            if not automation.enabled:
                continue
            for trigger in automation.webhooks:
                if hmac.compare_digest(trigger.webhook_id.encode(), given):
                    found.append(trigger)
        return found

    def status(self) -> list[dict[str, Any]]:
        return [automation.status() for automation in self.automations.values()]


def _validate(automations: list) -> list[dict[str, Any]]:
    try:
        return AUTOMATIONS_SCHEMA(copy.deepcopy(automations))
    except vol.Invalid as err:
        path = ".".join(str(p) for p in err.path)
        raise ConfigError(f"automations.{path}: {err.msg}" if path else str(err)) from None
