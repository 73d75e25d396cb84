"""The action pipeline. Every control request (REST, WebSocket, automation, CLI) comes here:

    authenticate principal   (done by the caller: hub.server / hub.ws / automations)
    -> resolve device        registry (an id, or `name:Living Room`: hub.names)
    -> validate action+params the owning plugin's ActionSpec (voluptuous)
    -> governance gate       hub.governance
    -> audit decision        hub.audit, committed before anything is dispatched
    -> dispatch              hub.plugin_manager (timeout, error mapping)
    -> audit outcome         committed before the answer
    -> state + event         the plugin updated the registry; one "action" event here
    -> response

Invalid and denied requests are audited too. `dry_run` runs every step up to dispatch.
"""

from __future__ import annotations

import os
import time
from typing import Any

import voluptuous as vol

from hub.audit import AuditLog, redact
from hub.errors import DeviceUnavailable, Forbidden, HubError, InvalidRequest
from hub.events import EventBus
from hub.governance import Governance
from hub.model import Principal
from hub.plugin_manager import PluginManager
from hub.registry import DeviceRegistry
from hub.validation import problems


def _invalid_params(err: vol.Invalid, action: str) -> InvalidRequest:
    details = [{"path": ".".join(str(p) for p in path) or "params", "message": msg}
               for path, msg in problems(err, noun="parameter")]
    summary = "; ".join(f"{d['path']}: {d['message']}" for d in details)
    return InvalidRequest(f"invalid parameters for {action}: {summary}", code="invalid_params",
                          errors=details)


class Pipeline:
    def __init__(self, *, registry: DeviceRegistry, plugins: PluginManager,
                 governance: Governance, audit: AuditLog, bus: EventBus) -> None:
        self._registry = registry
        self._plugins = plugins
        self._governance = governance
        self._audit = audit
        self._bus = bus

    async def execute(
        self,
        principal: Principal,
        device_id: Any,
        action: Any,
        params: Any = None,
        *,
        dry_run: bool = False,
        source: str = "rest",
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run one request through the pipeline. `context` (JSON-serialisable) is recorded
        with the audit records: where the request came from beyond its principal, such as an
        automation's run id and step."""
        started = time.perf_counter()
        record: dict[str, Any] = {
            "correlation_id": os.urandom(16).hex(),
            "principal": principal.name,
            "principal_kind": principal.kind,
            "maturity": principal.maturity.name if principal.maturity else None,
            "source": source,
            "device": str(device_id)[:256] if device_id is not None else None,
            "action": str(action)[:128] if action is not None else None,
            "context": context,
        }

        # Resolve the device and validate the action and its parameters.
        try:
            device, spec, params = self._resolve(device_id, action, params)
        except HubError as err:
            await self._audit.write(
                record="decision", decision="invalid", reason=err.message,
                params=redact(params) if isinstance(params, dict) else None,
                duration_ms=_ms(started), **record)
            raise
        if device.id != device_id:  # named by `name:...`: record the id, and what was asked
            record["device"] = device.id
            record["context"] = {**(context or {}), "device_asked": device_id}
        record["params"] = redact(params, spec.secret_params)

        # The governance gate; its decision is durable before anything else happens.
        decision = self._governance.decide(principal, device.plugin, device.id, action,
                                           spec.required)
        await self._audit.write(
            record="decision", decision="allow" if decision.allowed else "deny",
            reason=decision.reason, required=decision.required.name,
            duration_ms=_ms(started), **record)
        if not decision.allowed:
            self._publish(record, "denied", decision.reason)
            raise Forbidden(decision.reason, **decision.fields(principal))

        if dry_run:
            await self._audit.write(record="outcome", outcome="dry_run",
                                    duration_ms=_ms(started), **record)
            return self._answer(record, device.id, action, None, dry_run=True,
                                would={"plugin": device.plugin, "params": params,
                                       "required": decision.required.name})

        # Dispatch to the owning plugin (timeout and error mapping live in the manager).
        try:
            if not device.available:
                raise DeviceUnavailable(
                    f"{device.id} is unavailable"
                    + (f": {device.unavailable_reason}" if device.unavailable_reason else ""),
                    device=device.id,
                    **({"reason": device.unavailable_reason} if device.unavailable_reason
                       else {}))
            result = await self._plugins.act(device, action, params)
        except HubError as err:
            await self._audit.write(record="outcome", outcome="error",
                                    error=f"{err.code}: {err.message}"[:1000],
                                    duration_ms=_ms(started), **record)
            self._publish(record, "error", err.code)
            raise

        await self._audit.write(record="outcome", outcome="ok", duration_ms=_ms(started),
                                **record)
        self._publish(record, "ok", None)
        return self._answer(record, device.id, action, result)

    def _resolve(self, device_id: Any, action: Any, params: Any):
        if not isinstance(device_id, str) or not device_id:
            raise InvalidRequest("device must be a device id string", field="device")
        if not isinstance(action, str) or not action:
            raise InvalidRequest("action must be an action name string", field="action")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise InvalidRequest("params must be an object", field="params")
        device = self._registry.resolve(device_id)  # an id or `name:...` (hub.names)
        plugin = self._plugins.plugins.get(device.plugin)
        spec = plugin.info.actions.get(action) if plugin and plugin.info else None
        if spec is None or action not in device.actions:
            raise InvalidRequest(
                f"{device_id} does not support {action!r}", code="unsupported_action",
                supported=sorted(device.actions))
        try:
            params = spec.schema(params)
        except vol.Invalid as err:
            raise _invalid_params(err, action) from None
        return device, spec, params

    def _publish(self, record: dict[str, Any], outcome: str, error: str | None) -> None:
        data = {
            "correlation_id": record["correlation_id"],
            "device_id": record["device"],
            "action": record["action"],
            "params": record.get("params"),
            "principal": record["principal"],
            "source": record["source"],
            "outcome": outcome,
        }
        if error:
            data["error"] = error
        self._bus.publish("action", data)

    def _answer(self, record: dict[str, Any], device_id: str, action: str, result: Any,
                *, dry_run: bool = False, **extra: Any) -> dict[str, Any]:
        device = self._registry.get(device_id)
        return {
            "correlation_id": record["correlation_id"],
            "device": device_id,
            "action": action,
            "dry_run": dry_run,
            "result": result,
            "state": device.snapshot() if device else None,
            **extra,
        }

    async def admin(self, principal: Principal, what: str, *, source: str = "rest",
                    target: str | None = None, params: dict[str, Any] | None = None) -> str:
        """Gate and audit an administrative request; returns its correlation id."""
        decision = self._governance.admin(principal, what)
        correlation_id = os.urandom(16).hex()
        await self._audit.write(
            record="decision", correlation_id=correlation_id, principal=principal.name,
            principal_kind=principal.kind,
            maturity=principal.maturity.name if principal.maturity else None, source=source,
            device=target, action=what, params=redact(params or {}),
            decision="allow" if decision.allowed else "deny", reason=decision.reason,
            required=decision.required.name)
        if not decision.allowed:
            raise Forbidden(decision.reason, **decision.fields(principal))
        return correlation_id

    async def admin_outcome(self, principal: Principal, what: str, correlation_id: str, *,
                            source: str = "rest", target: str | None = None,
                            error: str | None = None) -> None:
        await self._audit.write(
            record="outcome", correlation_id=correlation_id, principal=principal.name,
            principal_kind=principal.kind,
            maturity=principal.maturity.name if principal.maturity else None, source=source,
            device=target, action=what, outcome="error" if error else "ok", error=error)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
