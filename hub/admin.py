"""Administrative requests take one path: a decision record, the work, an outcome record.

    async with hub.pipeline.admin(principal, "revoke_token", target=name) as request:
        ...  # runs only when allowed; request.correlation_id names both records

Entering gates the request (`hub.governance.Governance.admin`: the owner's) and commits its
decision record; a denial is recorded and raises Forbidden (403) before the work starts.
Leaving commits the outcome record: `ok`, or `error` with `code: message` of whatever the
work raised (a cancellation included) or of `failure` when the work set one, in one format
for every request. A read (`read=True`: the audit log, the token list, traces) follows the
rule of every read: recorded when denied, not when allowed (architecture.md, Reads). Core
routes, the automations' routes, plugin routes (`hub.plugin.admin_route`, `ctx.admin`) and
the CLI's offline token commands all use it; none writes its own decision/outcome pair.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hub.audit import AuditLog, new_correlation_id, redact
from hub.errors import ConfigError, Forbidden, HubError
from hub.governance import Decision
from hub.model import Principal


def error_text(err: BaseException) -> str:
    """How a failure is written in an outcome record, whatever raised it."""
    if isinstance(err, HubError):
        return f"{err.code}: {err.message}"
    if isinstance(err, ConfigError):
        return f"invalid_config: {err}"
    if isinstance(err, asyncio.CancelledError):
        return "cancelled: the request was cancelled before it finished"
    return f"internal_error: {type(err).__name__}: {err}"


class AdminRequest:
    def __init__(self, audit: AuditLog, decision: Decision, principal: Principal | None, *,
                 what: str, source: str = "rest", target: str | None = None,
                 params: dict[str, Any] | None = None,
                 principal_fields: dict[str, Any] | None = None, read: bool = False) -> None:
        self._audit = audit
        self.read = read
        self.failure: str | None = None  # the outcome's error when the work did not raise
        self.decision = decision
        self.principal = principal
        self.correlation_id = new_correlation_id()
        self._record: dict[str, Any] = {
            "correlation_id": self.correlation_id,
            **(principal_fields if principal_fields is not None else {
                "principal": principal.name if principal else None,
                "principal_kind": principal.kind if principal else None,
                "maturity": principal.maturity.name
                if principal and principal.maturity else None}),
            "source": source,
            "device": target,
            "action": what,
        }
        self._params = redact(params or {})

    @property
    def target(self) -> str | None:
        return self._record["device"]

    @target.setter
    def target(self, value: str | None) -> None:
        """A target known only once the work is done (a created name) for the outcome."""
        self._record["device"] = value

    async def __aenter__(self) -> AdminRequest:
        decision = self.decision
        if self.read and decision.allowed:
            return self
        await self._audit.write(
            record="decision", decision="allow" if decision.allowed else "deny",
            reason=decision.reason, required=decision.required.name, params=self._params,
            **self._record)
        if not decision.allowed:
            fields = decision.fields(self.principal) if self.principal else {}
            raise Forbidden(decision.reason, **fields)
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.read:
            return
        error = error_text(exc) if exc is not None else self.failure
        outcome = {"outcome": "error", "error": error} if error else {"outcome": "ok"}
        # Queued at once, so a cancelled request still gets the outcome record its decision
        # promised, even if it stops waiting for the commit.
        await self._audit.write(record="outcome", **outcome, **self._record)
