"""The action pipeline. Every control request (REST, WebSocket, automation, CLI) comes here:

    authenticate principal   (done by the caller: hub.server / hub.ws / automations)
    -> boundary              hub.boundary: identifiers and params (depth, text)
    -> resolve device        registry (an id, or `name:Living Room`: hub.names)
    -> validate action+params the owning plugin's ActionSpec (voluptuous)
    -> blast radius          hub.blast_radius: every device the action changes
    -> governance gate       hub.governance, on each affected device
    -> audit decision        hub.audit, committed before anything is dispatched
    -> dispatch              hub.plugin_manager (timeout, error mapping)
    -> answer's state        the device's snapshot, taken right after dispatch
    -> audit outcome         committed before the answer, whatever happened after the decision
    -> state + event         the plugin updated the registry; one "action" event here
    -> response

Invalid and denied requests are audited too, up to a per-principal limit (hub.ratelimit);
past it they answer 429. `dry_run` runs every step up to dispatch. Administrative requests
take `Pipeline.admin` (hub.admin).
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

import voluptuous as vol

from hub import blast_radius, boundary
from hub.admin import AdminRequest, error_text
from hub.audit import AuditLog, new_correlation_id, redact
from hub.clock import Clock, SystemClock
from hub.errors import (
    DeviceUnavailable,
    Forbidden,
    HubError,
    InvalidRequest,
    RateLimited,
    UpstreamError,
)
from hub.events import EventBus, dispatching
from hub.governance import Decision, Governance
from hub.model import ActionSpec, Device, Principal
from hub.plugin_manager import PluginManager
from hub.ratelimit import RefusalLimiter
from hub.registry import DeviceRegistry
from hub.validation import problems


def _invalid_params(err: vol.Invalid, action: str) -> InvalidRequest:
    details = [{"path": ".".join(str(p) for p in path) or "params", "message": msg}
               for path, msg in problems(err, noun="parameter")]
    summary = "; ".join(f"{d['path']}: {d['message']}" for d in details)
    return InvalidRequest(f"invalid parameters for {action}: {summary}", code="invalid_params",
                          errors=details)


ACTION_FIELDS = frozenset({"device", "action", "params", "dry_run"})


def action_request(body: Any, envelope: frozenset[str] = frozenset()) -> tuple[Any, ...]:
    """(device, action, params, dry_run) of an action request (REST body or WS command)."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be an object {device, action, params, dry_run}")
    unknown = set(body) - ACTION_FIELDS - envelope
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(sorted(map(str, unknown)))[:200]}")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidRequest("dry_run must be true or false", field="dry_run")
    return body.get("device"), body.get("action"), body.get("params"), dry_run


class Pipeline:
    def __init__(self, *, registry: DeviceRegistry, plugins: PluginManager,
                 governance: Governance, audit: AuditLog, bus: EventBus,
                 clock: Clock | None = None) -> None:
        self._registry = registry
        self._plugins = plugins
        self._governance = governance
        self._audit = audit
        self._bus = bus
        self.refusals = RefusalLimiter(clock or SystemClock())
        self._declares: dict[str, bool] = {}  # plugin -> implements affected_devices

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
            "correlation_id": new_correlation_id(),
            "principal": principal.name,
            "principal_kind": principal.kind,
            "maturity": principal.maturity.name if principal.maturity else None,
            "source": source,
            "device": str(device_id) if device_id is not None else None,
            "action": str(action) if action is not None else None,
            "context": context,
        }

        # The boundary, then resolve the device and validate the action and its parameters.
        try:
            device, spec, params = self._resolve(device_id, action, params)
        except HubError as err:
            await self._refuse(principal, record, "invalid", err, started,
                               params=redact(params) if isinstance(params, dict) else None)
            raise
        if device.id != device_id:  # named by `name:...`: record the id, and what was asked
            record["device"] = device.id
            record["context"] = {**(context or {}), "device_asked": device_id}
        record["params"] = redact(params, spec.secret_params)

        # The blast radius: every device the action changes, as the owning plugin declares it.
        try:
            affected = self._affected(device, action, params)
        except HubError as err:
            await self._audit.write(record="decision", decision="error", reason=err.message,
                                    duration_ms=_ms(started), **record)
            self._publish(record, "error", err.code)
            raise
        if len(affected) > 1:
            record["affected"] = affected

        # The governance gate, on each affected device; durable before anything else happens.
        decision = self._decide(principal, device, action, spec, affected)
        if not decision.allowed:
            denied = Forbidden(decision.reason, **decision.fields(principal))
            await self._refuse(principal, record, "deny", denied, started,
                               required=decision.required.name)
            raise denied
        await self._audit.write(
            record="decision", decision="allow", reason=decision.reason,
            required=decision.required.name, duration_ms=_ms(started), **record)

        # From here on the decision is on record: whatever happens, an outcome record follows.
        try:
            if dry_run:
                answer = self._answer(record, device, action, None, dry_run=True,
                                      would={"plugin": device.plugin, "params": params,
                                             "required": decision.required.name})
                outcome: dict[str, Any] = {"outcome": "dry_run"}
            else:
                result = await self._dispatch(record, device, action, params)
                # The state the action left, before anything else can change it.
                answer = self._answer(record, device, action, result)
                outcome = {"outcome": "ok"}
        except BaseException as err:
            # Queued at once: committed even if this task is cancelled while it waits.
            await self._audit.write(record="outcome", outcome="error", error=error_text(err),
                                    duration_ms=_ms(started), **record)
            self._publish(record, "error", err.code if isinstance(err, HubError) else "error")
            raise
        await self._audit.write(record="outcome", duration_ms=_ms(started), **outcome,
                                **record)
        if not dry_run:
            self._publish(record, "ok", None)
        return answer

    async def reject(self, principal: Principal, err: HubError, *,
                     source: str = "rest") -> NoReturn:
        """Audit an action request refused before it could be read (a body that is not JSON,
        not an object, with unknown fields) like any invalid one, then raise `err`."""
        record = {"correlation_id": new_correlation_id(), "principal": principal.name,
                  "principal_kind": principal.kind,
                  "maturity": principal.maturity.name if principal.maturity else None,
                  "source": source, "device": None, "action": None}
        await self._refuse(principal, record, "invalid", err, time.perf_counter())
        raise err

    def _resolve(self, device_id: Any, action: Any,
                 params: Any) -> tuple[Device, ActionSpec, dict[str, Any]]:
        boundary.identifier(device_id, "device")
        boundary.identifier(action, "action")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise InvalidRequest("params must be an object", field="params")
        boundary.check(params, what="params", code="invalid_params")
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

    def _affected(self, device: Device, action: str, params: dict[str, Any]) -> list[str]:
        """The action's blast radius (the device first), from the plugin or the vocabulary."""
        name = device.plugin
        declares = self._declares.get(name)
        if declares is None:
            declares = self._declares[name] = self._plugins.implements(name, "affected_devices")
        answer = None
        if declares:
            plugin = self._plugins.plugins[name]
            try:
                answer = self._plugins.call_sync(name, "affected_devices", ctx=plugin.ctx,
                                                 device=device, action=action, params=params)
                if answer is not None:
                    return blast_radius.normalize(answer, device)
            except Exception as err:
                raise UpstreamError(
                    f"plugin {name} could not say which devices {action} on {device.id} "
                    f"would change ({type(err).__name__}: {str(err)[:200]}); refused, since "
                    "governance cannot decide on it", code="plugin_error", plugin=name,
                    device=device.id) from None
        return blast_radius.derive(device, action, params, self._registry.get)

    def _decide(self, principal: Principal, device: Device, action: str, spec: ActionSpec,
                affected: list[str]) -> Decision:
        decision = self._governance.decide(principal, device.plugin, device.id, action,
                                           spec.required)
        if not decision.allowed or len(affected) == 1:
            return decision
        for other in affected[1:]:
            also = self._governance.decide(principal, other.split(".", 1)[0], other, action,
                                           spec.required)
            if not also.allowed:
                return Decision(False, also.required,
                                f"{action} on {device.id} also changes {other}: {also.reason}")
        return Decision(True, decision.required,
                        f"{decision.reason}; also allowed on {', '.join(affected[1:])}")

    def catalog_decision(self, principal: Principal, device: Device, action: str,
                         spec: ActionSpec) -> Decision:
        """What `GET /actions/catalog` shows as `allowed`: the decision on the device and, for
        an action that takes no parameters, on its blast radius (a transport action on a
        grouped player); one whose radius depends on its parameters is decided per request."""
        affected = [device.id]
        try:
            params = spec.schema({})
        except vol.Invalid:
            pass
        else:
            try:
                affected = self._affected(device, action, params)
            except HubError:
                pass  # a failing plugin refuses the request itself, with its reason
        return self._decide(principal, device, action, spec, affected)

    async def _dispatch(self, record: dict[str, Any], device: Device, action: str,
                        params: dict[str, Any]) -> Any:
        """The owning plugin's act, under the correlation id its state changes will carry."""
        if not device.available:
            raise DeviceUnavailable(
                f"{device.id} is unavailable"
                + (f": {device.unavailable_reason}" if device.unavailable_reason else ""),
                device=device.id,
                **({"reason": device.unavailable_reason} if device.unavailable_reason
                   else {}))
        with dispatching(record["correlation_id"]):
            return await self._plugins.act(device, action, params)

    async def _refuse(self, principal: Principal, record: dict[str, Any], decision: str,
                      err: HubError, started: float, **fields: Any) -> None:
        """Audit a refused request, unless its principal is past its refusal limit: then
        answer 429 and keep one record per window instead of one per request."""
        await self._close_refusal_windows()
        verdict = self.refusals.refused(principal)
        if verdict.record:
            await self._audit.write(record="decision", decision=decision, reason=err.message,
                                    duration_ms=_ms(started), **fields, **record)
            if decision == "deny":
                self._publish(record, "denied", err.message)
            return
        limiter = self.refusals
        if verdict.trip is not None:
            await self._audit.write(
                record="decision", decision="rate_limited", correlation_id=verdict.trip,
                principal=record["principal"], principal_kind=record["principal_kind"],
                maturity=record["maturity"], source=record["source"],
                reason=f"more than {limiter.limit} denied or invalid requests in "
                       f"{limiter.window:g} s; the rest of this window is answered 429 and "
                       "counted in this request's outcome record",
                params={"last_refused": {"device": record["device"],
                                         "action": record["action"],
                                         "decision": decision, "reason": err.message}})
        raise RateLimited(
            f"too many denied or invalid requests (more than {limiter.limit} in "
            f"{limiter.window:g} s); last one: {err.message}",
            retry_after=max(1.0, round(verdict.retry_after, 1)))

    async def _close_refusal_windows(self, *, everything: bool = False) -> None:
        closed = self.refusals.drain() if everything else self.refusals.closed()
        for window in closed:
            principal = window.principal
            await self._audit.write(
                record="outcome", correlation_id=window.correlation_id,
                principal=principal.name, principal_kind=principal.kind,
                maturity=principal.maturity.name if principal.maturity else None,
                outcome="error",
                error=f"rate_limited: {window.suppressed + 1} refused requests answered 429 "
                      "in this window")

    async def close(self) -> None:
        """Write the outcome records of refusal windows still open (at shutdown)."""
        await self._close_refusal_windows(everything=True)

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
        if "affected" in record:
            data["affected"] = record["affected"]
        self._bus.publish("action", data)

    def _answer(self, record: dict[str, Any], device: Device, action: str, result: Any,
                *, dry_run: bool = False, **extra: Any) -> dict[str, Any]:
        current = self._registry.get(device.id)
        answer = {
            "correlation_id": record["correlation_id"],
            "device": device.id,
            "action": action,
            "dry_run": dry_run,
            "result": result,
            "state": current.snapshot() if current else None,
            **extra,
        }
        if "affected" in record:
            answer["affected"] = record["affected"]
        return answer

    def admin(self, principal: Principal, what: str, *, source: str = "rest",
              target: str | None = None, params: dict[str, Any] | None = None,
              read: bool = False) -> AdminRequest:
        """An administrative request, gated and audited: `async with pipeline.admin(...)`.
        `read=True`: recorded only when denied, like every read."""
        return AdminRequest(self._audit, self._governance.admin(principal, what), principal,
                            what=what, source=source, target=target, params=params, read=read)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
