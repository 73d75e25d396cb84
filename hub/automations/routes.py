"""HTTP routes of the automations: webhooks and reload."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub import boundary
from hub.errors import ConfigError, InvalidRequest, NotFound, PayloadTooLarge
from hub.plugin import admin_route, public_route

MAX_WEBHOOK_BYTES = 64 * 1024


def register_routes(app: web.Application, hub: Any) -> None:
    """`POST /webhooks/{webhook_id}` (public: the unguessable id is the credential) and
    `POST /automations/reload` (owner)."""

    async def webhook(request: web.Request) -> web.Response:
        engine = hub.automations
        triggers = engine.webhook_triggers(request.match_info["webhook_id"]) if engine else []
        if not triggers:
            # Same answer for "no such webhook" and "disabled": nothing to probe.
            raise NotFound("unknown webhook")
        payload = await _payload(request)
        started = [t.automation.id for t in triggers if t.fire(payload)]
        return web.json_response({"triggered": started})

    @admin_route("reload_config")  # the owner's, gated and audited by the core
    async def reload(request: web.Request) -> web.Response:
        try:
            await hub.reload_config()
        except ConfigError as err:
            raise InvalidRequest(str(err), code="invalid_config") from None
        return web.json_response(
            {"reloaded": True, "automations": hub.automations.status()
             if hub.automations else []})

    async def list_automations(request: web.Request) -> web.Response:
        return web.json_response(
            {"automations": hub.automations.status() if hub.automations else []})

    app.router.add_post("/webhooks/{webhook_id}", public_route(webhook))
    app.router.add_post("/automations/reload", reload)
    app.router.add_get("/automations", list_automations)


async def _payload(request: web.Request) -> Any:
    """The request body for the run: JSON, a form, or nothing (then the query string)."""
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(f"a webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
    body = await request.content.read(MAX_WEBHOOK_BYTES + 1)
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(f"a webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
    if not body:
        return dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qsl

        return dict(parse_qsl(body.decode("utf-8", "replace")))
    return boundary.loads(body, what="the webhook body (JSON or a form)")
