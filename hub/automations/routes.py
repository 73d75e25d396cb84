"""The automations over HTTP and the WebSocket.

    POST|PUT /webhooks/{webhook_id}            public: the unguessable id is the credential
    GET  /automations                          every automation's status (any principal)
    GET  /automations/{id}                     one automation's status
    GET  /automations/{id}/traces              its last runs, newest first (owner)
    GET  /automations/{id}/traces/{run_id}     one run (owner)
    POST /automations/{id}/trigger             run it now: {variables, skip_condition} (owner)
    POST /automations/{id}/enable | /disable   turn it on or off, kept across restarts (owner)
    POST /automations/reload                   re-read the config file (owner)

WebSocket commands (same answers and errors): `automations/list`, `automations/get`,
`automations/traces` (`run_id` for one), `automations/trigger`, `automations/enable`,
`automations/disable`. Administrative requests are gated and audited through the pipeline
(`administer`); a denied trace read is audited too.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from hub import boundary, ws
from hub.automations.values import identifier
from hub.errors import ConfigError, InvalidRequest, NotFound, PayloadTooLarge
from hub.model import Principal
from hub.plugin import PRINCIPAL_KEY, public_route

MAX_WEBHOOK_BYTES = 64 * 1024
MAX_VARIABLES_BYTES = 16 * 1024


async def administer(hub: Any, principal: Principal, what: str, run: Callable[[], Awaitable[Any]],
                     *, source: str, target: str | None = None,
                     params: dict[str, Any] | None = None, read: bool = False) -> Any:
    """An administrative request on the hub's one admin path (`Pipeline.admin`): the gate
    decides (the owner's), the decision and the outcome are audited, `run()` does the work
    in between."""
    async with hub.pipeline.admin(principal, what, source=source, target=target,
                                  params=params, read=read):
        return await run()


class AutomationApi:
    """What REST and WebSocket share: each method takes the caller and plain arguments."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    @property
    def engine(self) -> Any:
        if self.hub.automations is None:
            raise NotFound("automations are not available")
        return self.hub.automations

    def list(self) -> list[dict[str, Any]]:
        return self.engine.status() if self.hub.automations is not None else []

    def get(self, automation_id: str) -> dict[str, Any]:
        return dict(self.engine.get(automation_id).status())

    async def traces(self, principal: Principal, automation_id: str, run_id: str | None,
                     source: str) -> Any:
        async def run() -> Any:
            if run_id is None:
                return {"automation": automation_id,
                        "traces": self.engine.traces_of(automation_id)}
            self.engine.get(automation_id)
            trace = self.engine.traces.get(automation_id, run_id)
            if trace is None:
                raise NotFound(f"no trace of run {run_id!r} of {automation_id} (only the "
                               f"last runs are kept)", code="unknown_run")
            return trace

        # Like the audit log: the owner's; a read, so recorded only when denied.
        return await administer(self.hub, principal, "read_automation_traces", run,
                                source=source, target=automation_id, read=True)

    async def trigger(self, principal: Principal, automation_id: str, body: Any,
                      source: str) -> dict[str, Any]:
        variables, skip_condition = _trigger_body(body)
        self.engine.get(automation_id)

        async def run() -> dict[str, Any]:
            return dict(self.engine.trigger_now(automation_id, variables=variables,
                                                skip_condition=skip_condition))

        return dict(await administer(
            self.hub, principal, "trigger_automation", run, source=source,
            target=automation_id,
            params={"skip_condition": skip_condition, "variables": sorted(variables)}))

    async def set_enabled(self, principal: Principal, automation_id: str, enabled: bool,
                          source: str) -> dict[str, Any]:
        self.engine.get(automation_id)

        async def run() -> dict[str, Any]:
            return dict(await self.engine.set_enabled(automation_id, enabled))

        what = "enable_automation" if enabled else "disable_automation"
        return dict(await administer(self.hub, principal, what, run, source=source,
                                     target=automation_id))


def _trigger_body(body: Any) -> tuple[dict[str, Any], bool]:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidRequest('the body must be an object {"variables": {...}, '
                             '"skip_condition": true}')
    unknown = sorted(set(body) - {"variables", "skip_condition"})
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(unknown)}")
    variables = body.get("variables")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise InvalidRequest("variables must be an object", field="variables")
    for name in variables:
        try:
            identifier(name)
        except Exception:
            raise InvalidRequest(f"{name!r} is not a variable name (letters, digits and _)",
                                 field="variables") from None
        if name in ("trigger", "this"):
            raise InvalidRequest(f"{name} is set by the hub", field="variables")
    if len(json.dumps(variables, default=str)) > MAX_VARIABLES_BYTES:
        raise InvalidRequest(f"variables are at most {MAX_VARIABLES_BYTES} bytes of JSON",
                             field="variables")
    skip = body.get("skip_condition", True)
    if not isinstance(skip, bool):
        raise InvalidRequest("skip_condition must be true or false", field="skip_condition")
    return variables, skip


def register_routes(app: web.Application, hub: Any) -> None:
    api = AutomationApi(hub)

    async def webhook(request: web.Request) -> web.Response:
        engine = hub.automations
        triggers = engine.webhook_triggers(request.match_info["webhook_id"]) if engine else []
        triggers = [t for t in triggers if request.method in t.methods
                    and (not t.local_only or _is_local(request.remote))]
        if not triggers:
            # Same answer for "no such webhook", "disabled" and "not allowed": nothing to probe.
            raise NotFound("unknown webhook")
        payload = await _payload(request)
        started = [t.owner.id for t in triggers if t.fire(payload)]
        return web.json_response({"triggered": started})

    async def reload(request: web.Request) -> web.Response:
        async def run() -> None:
            try:
                await hub.reload_config()
            except ConfigError as err:
                raise InvalidRequest(str(err), code="invalid_config") from None

        await administer(hub, request[PRINCIPAL_KEY], "reload_config", run, source="rest")
        return web.json_response({"reloaded": True, "automations": api.list()})

    async def list_automations(request: web.Request) -> web.Response:
        return web.json_response({"automations": api.list()})

    async def get_automation(request: web.Request) -> web.Response:
        return web.json_response(api.get(request.match_info["automation_id"]))

    async def traces(request: web.Request) -> web.Response:
        return _json(await api.traces(request[PRINCIPAL_KEY], request.match_info[
            "automation_id"], request.match_info.get("run_id"), "rest"))

    async def trigger(request: web.Request) -> web.Response:
        from hub.server import read_json

        body = await read_json(request, optional=True)
        return web.json_response(await api.trigger(
            request[PRINCIPAL_KEY], request.match_info["automation_id"], body, "rest"))

    def switch(enabled: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(await api.set_enabled(
                request[PRINCIPAL_KEY], request.match_info["automation_id"], enabled, "rest"))
        return handler

    for method in ("POST", "PUT", "GET"):
        app.router.add_route(method, "/webhooks/{webhook_id}", public_route(webhook))
    app.router.add_post("/automations/reload", reload)
    app.router.add_get("/automations", list_automations)
    app.router.add_get("/automations/{automation_id}", get_automation)
    app.router.add_get("/automations/{automation_id}/traces", traces)
    app.router.add_get("/automations/{automation_id}/traces/{run_id}", traces)
    app.router.add_post("/automations/{automation_id}/trigger", trigger)
    app.router.add_post("/automations/{automation_id}/enable", switch(True))
    app.router.add_post("/automations/{automation_id}/disable", switch(False))
    _register_ws(app, api)


def _register_ws(app: web.Application, api: AutomationApi) -> None:
    async def list_(principal: Principal, message: dict) -> Any:
        return api.list()

    async def get(principal: Principal, message: dict) -> Any:
        return api.get(_string(message, "automation_id"))

    async def traces(principal: Principal, message: dict) -> Any:
        run_id = message.get("run_id")
        if run_id is not None and not isinstance(run_id, str):
            raise InvalidRequest("run_id must be a string")
        return await api.traces(principal, _string(message, "automation_id"), run_id, "ws")

    async def trigger(principal: Principal, message: dict) -> Any:
        body = {k: v for k, v in message.items() if k in ("variables", "skip_condition")}
        return await api.trigger(principal, _string(message, "automation_id"), body, "ws")

    def switch(enabled: bool) -> ws.CommandHandler:
        async def handler(principal: Principal, message: dict) -> Any:
            return await api.set_enabled(principal, _string(message, "automation_id"),
                                         enabled, "ws")
        return handler

    for name, handler in (("list", list_), ("get", get), ("traces", traces),
                          ("trigger", trigger), ("enable", switch(True)),
                          ("disable", switch(False))):
        ws.register_command(app, f"automations/{name}", handler)


def _string(message: dict, key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{key} must be a non-empty string", field=key)
    return value


def _json(data: Any) -> web.Response:
    from hub.server import json_response

    return json_response(data)


def _is_local(remote: str | None) -> bool:
    """Home Assistant's local_only: loopback, private and link-local addresses."""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


async def _payload(request: web.Request) -> dict[str, Any]:
    """The request for the run: trigger.json (a JSON body), trigger.data (a form) and
    trigger.query, as Home Assistant's webhook trigger gives them."""
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(f"a webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
    body = await request.content.read(MAX_WEBHOOK_BYTES + 1)
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(f"a webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
    payload: dict[str, Any] = {"query": dict(request.query)}
    if not body:
        return payload
    if request.content_type == "application/x-www-form-urlencoded":
        payload["data"] = dict(parse_qsl(body.decode("utf-8", "replace")))
        return payload
    # The boundary, as for every REST body: UTF-8 (no lone surrogates), at most 32 levels.
    payload["json"] = boundary.loads(body, what="the webhook body (JSON or a form)")
    return payload
