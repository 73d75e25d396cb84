"""The REST API (aiohttp). One error shape everywhere: {"error": {"code", "message", ...}}.

Every route needs `Authorization: Bearer <token>` (or a dashboard session cookie, see
hub.sessions) except `GET /health`, the dashboard's files (hub.dashboard) and routes marked
`@public_route`. Control requests go through `hub.pipeline`; nothing here talks to a plugin
directly.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web, web_log

from hub import boundary, errors, media, names
from hub.admin import AdminRequest
from hub.catalog import parameters_schema
from hub.errors import HubError, InvalidRequest, NotFound
from hub.pipeline import action_request
from hub.plugin import PRINCIPAL_KEY, admin_route, public_route
from hub.ratelimit import LogLimiter
from hub.sessions import authenticate_request, request_context
from hub.tokens import MalformedToken

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger(__name__)

HUB_KEY: web.AppKey[Hub] = web.AppKey("hub", object)  # type: ignore[arg-type]
MAX_BODY_KEY = web.AppKey("max_body", int)

_HTTP_CODES = {
    400: "invalid_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 429: "rate_limited",
}


class AccessLogger(web_log.AbstractAccessLogger):
    """One line per request with no credential in it: never the query string (OAuth callbacks
    carry codes there) and never a webhook id (the id is the webhook's credential)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.path
        if path.startswith("/webhooks/"):
            path = "/webhooks/<redacted>"
        self.logger.info("%s %s %s %s %.1fms", request.remote, request.method, path,
                         response.status, time * 1000)


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None):
    # orjson: JSON encoding is the largest cost of an answer after aiohttp itself.
    return web.Response(body=orjson.dumps(data, default=str, option=_ORJSON_OPTIONS),
                        status=status, headers=headers, content_type="application/json")


def error_response(err: HubError) -> web.Response:
    headers = {}
    if isinstance(err, errors.RateLimited) and err.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(err.retry_after)))
    if err.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="hub"'
    return json_response({"error": err.as_dict()}, status=err.status, headers=headers)


LOG_LIMIT_KEY = web.AppKey("log_limiter", LogLimiter)
# The administrative request of an `admin_route` handler, for what only the handler knows.
ADMIN_REQUEST_KEY = web.RequestKey("admin_request", AdminRequest)


@web.middleware
async def api_middleware(request: web.Request, handler) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    try:
        match = request.match_info
        if match.http_exception is not None:
            raise match.http_exception
        admin = getattr(match.handler, "__hub_admin__", None)
        if admin is None and getattr(match.handler, "__hub_public__", False):
            return await handler(request)
        principal = request[PRINCIPAL_KEY] = authenticate_request(hub, request)
        if admin is None:
            return await handler(request)
        # Administration: gated (the owner's) and audited, decision and outcome, as one.
        what, target, read = admin
        async with hub.pipeline.admin(principal, what, target=request.match_info.get(target)
                                      if target else None, read=read) as admin_request:
            request[ADMIN_REQUEST_KEY] = admin_request
            return await handler(request)
    except HubError as err:
        if isinstance(err, MalformedToken):
            request.app[LOG_LIMIT_KEY].log(
                log, logging.INFO, "malformed-auth", "refused a malformed Authorization "
                "header from %s", request.remote)
        return error_response(err)
    except ConnectionError as err:
        # The client went away (mid-body, mid-answer): nothing to answer, nothing to trace.
        request.app[LOG_LIMIT_KEY].log(log, logging.INFO, "disconnect",
                                       "client %s disconnected during %s %s: %s",
                                       request.remote, request.method, request.path, err)
        return json_response({"error": {"code": "invalid_request",
                                        "message": "the client disconnected"}}, status=400)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 413 else (
            f"request body too large (limit {request.app[MAX_BODY_KEY]} bytes)")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return json_response({"error": {"code": code, "message": message}}, status=exc.status,
                             headers=headers)
    except Exception:
        # A bug in the hub: log it, never show a traceback to the client.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"error": {"code": "internal_error",
                                         "message": "internal error; see the hub log"}},
                             status=500)


async def read_json(request: web.Request, *, optional: bool = False) -> Any:
    if not request.body_exists:
        if optional:
            return {}
        raise InvalidRequest("a JSON body is required", code="invalid_json")
    if request.content_type != "application/json":
        raise errors.UnsupportedMediaType("send the body as Content-Type: application/json")
    return boundary.loads(await request.read())


def _principal(request: web.Request):
    return request[PRINCIPAL_KEY]


# Clients that may name themselves in the audit's `source` with `X-Hub-Client: NAME`. The
# header is declared by the client, not proven: it says which program asked (so an agent's
# MCP calls read as such), never who asked; that is the token's principal alone. Any other
# value is ignored and the request is recorded as "rest".
CLIENT_SOURCES = frozenset({"mcp", "dashboard", "cli"})


def request_source(request: web.Request) -> str:
    """The audit `source` of a REST request: the declared client when it is a known one."""
    client = request.headers.get("X-Hub-Client", "").strip().lower()
    return client if client in CLIENT_SOURCES else "rest"


# -- handlers ------------------------------------------------------------------------------------


@public_route
async def health(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    return json_response({"status": "ok", "version": hub.version})


async def list_plugins(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    out = []
    for plugin in hub.plugins.plugins.values():
        data = hub.plugins.describe(plugin)
        data["devices"] = len(hub.registry.by_plugin(plugin.name))
        details = await hub.plugins.status(plugin)
        if details:
            data["details"] = details
        out.append(data)
    return json_response({"plugins": out})


async def list_devices(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    plugin = request.query.get("plugin")
    devices = hub.registry.by_plugin(plugin) if plugin else hub.registry.all()
    if "match" in request.query:
        return json_response({"devices": names.matching(devices, request.query["match"])})
    return json_response({"devices": [d.snapshot() for d in devices]})


async def get_device(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    return _snapshot_response(hub.registry.resolve(request.match_info["device_id"]).snapshot())


# The encoded body of the newest snapshots, by snapshot identity: a snapshot is rebuilt (a new
# dict) on every change, so an unchanged device is encoded once, not once per read.
_ENCODED: dict[int, tuple[dict[str, Any], bytes]] = {}


def _snapshot_response(snapshot: dict[str, Any]) -> web.Response:
    cached = _ENCODED.get(id(snapshot))
    if cached is None or cached[0] is not snapshot:
        if len(_ENCODED) > 4096:
            _ENCODED.clear()
        cached = _ENCODED[id(snapshot)] = (
            snapshot, orjson.dumps(snapshot, default=str, option=_ORJSON_OPTIONS))
    return web.Response(body=cached[1], content_type="application/json")


async def post_action(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    principal = _principal(request)
    source = request_source(request)
    try:
        device, action, params, dry_run = action_request(await read_json(request))
    except HubError as err:
        # A malformed action request is audited (and rate limited) like an invalid one.
        await hub.pipeline.reject(principal, err, source=source)
    result = await hub.pipeline.execute(principal, device, action, params, dry_run=dry_run,
                                        source=source, context=request_context(request))
    return json_response(result)


async def action_catalog(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    principal = _principal(request)
    wanted = request.query.get("device")
    devices = [hub.registry.resolve(wanted)] if wanted else hub.registry.all()
    out = []
    for device in devices:
        plugin = hub.plugins.plugins.get(device.plugin)
        if plugin is None or plugin.info is None:
            continue
        actions = []
        for name in sorted(device.actions):
            spec = plugin.info.actions.get(name)
            if spec is None:
                continue
            decision = hub.pipeline.catalog_decision(principal, device, name, spec)
            actions.append({
                "name": name,
                "description": spec.description,
                "parameters": parameters_schema(spec),
                "required": decision.required.name,
                "allowed": decision.allowed,
            })
        out.append({"device": device.id, "name": device.name, "plugin": device.plugin,
                    "actions": actions})
    media = hub.media.catalog(principal, devices[0] if wanted else None)
    return json_response({"devices": out, "media": media})


async def browse_media(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    return json_response(await hub.media.browse(
        _principal(request), media.query_params(request.query), source=request_source(request)))


async def search_media(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    return json_response(await hub.media.search(
        _principal(request), media.query_params(request.query), source=request_source(request)))


async def post_discover(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    principal = _principal(request)
    body = await read_json(request, optional=True)
    if not isinstance(body, dict) or set(body) - {"plugin"}:
        raise InvalidRequest('the body must be {} or {"plugin": "<name>"}')
    plugin = body.get("plugin")
    if plugin is not None:
        if not isinstance(plugin, str) or plugin not in hub.plugins.plugins:
            raise NotFound(f"unknown plugin {plugin!r}")
        if not hub.plugins.plugins[plugin].active:
            raise errors.Conflict(f"plugin {plugin} is not running "
                                  f"({hub.plugins.plugins[plugin].status})", code="plugin_inactive")
    async with hub.pipeline.admin(principal, "discover", target=plugin or "*") as admin:
        try:
            if plugin:
                results = {plugin: {"new": await hub.plugins.discover(plugin)}}
            else:
                results = await hub.plugins.discover_all()
        except HubError:
            raise
        except Exception as err:
            raise errors.UpstreamError(
                f"discovery of {plugin} failed: {type(err).__name__}: {str(err)[:200]}",
                plugin=plugin) from None
    return json_response({"correlation_id": admin.correlation_id, "plugins": results})


def parse_since(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest("since must be epoch seconds or an ISO 8601 time",
                             field="since") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _int_query(request: web.Request, name: str, default: int | None, lo: int, hi: int):
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer", field=name) from None
    if not lo <= value <= hi:
        raise InvalidRequest(f"{name} must be between {lo} and {hi}", field=name)
    return value


@admin_route("read_audit", read=True)
async def get_audit(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    limit = _int_query(request, "limit", 100, 1, 1000)
    before = _int_query(request, "before", None, 1, 2**62)
    after = _int_query(request, "after", None, 0, 2**62)
    since = parse_since(request.query["since"]) if "since" in request.query else None
    until = parse_since(request.query["until"]) if "until" in request.query else None
    for name, allowed in (("decision", AUDIT_DECISIONS), ("outcome", AUDIT_OUTCOMES)):
        if request.query.get(name, allowed[0]) not in allowed:
            raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}", field=name)
    records = await hub.audit.query(
        device=request.query.get("device"), principal=request.query.get("principal"),
        since=since, until=until, correlation_id=request.query.get("correlation_id"),
        decision=request.query.get("decision"), outcome=request.query.get("outcome"),
        before=before, after=after, limit=limit)
    body: dict[str, Any] = {"records": records}
    if len(records) == limit:
        body["next_before"] = records[-1]["seq"]
    return json_response(body)


AUDIT_DECISIONS = ("allow", "deny", "invalid", "error", "rate_limited")
AUDIT_OUTCOMES = ("ok", "error", "dry_run")


@admin_route("verify_audit")
async def verify_audit(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    result = await hub.audit.verify()
    if not result.ok:
        # Answered (the report is the answer), but recorded as a failed verification.
        request[ADMIN_REQUEST_KEY].failure = f"audit_tampered: {len(result.problems)} problems"
    return json_response({"ok": result.ok, "records": result.records, "head": result.head,
                          "problems": result.problems[:100],
                          "problem_count": len(result.problems)})


@admin_route("list_tokens", read=True)
async def list_tokens(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    return json_response({"tokens": await hub.tokens.list()})


async def create_token(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    principal = _principal(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be an object {name, kind, maturity}")
    async with hub.pipeline.admin(principal, "create_token", target=str(body.get("name")),
                                  params={k: body.get(k) for k in ("kind", "maturity")}):
        token, created = await hub.tokens.create(
            body.get("name"), kind=body.get("kind", "agent"), maturity=body.get("maturity"))
    return json_response({"token": token, **created.describe()}, status=201)


@admin_route("revoke_token", target="name")
async def revoke_token(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    revoked = await hub.tokens.revoke(request.match_info["name"])
    return json_response({"revoked": revoked.describe()})


# -- the app -------------------------------------------------------------------------------------


def _mount_plugin_routes(app: web.Application, plugin: Any) -> None:
    """Mount a plugin's RouteDefs under /integrations/<plugin>/; a bad one fails the plugin."""
    prefix = f"/integrations/{plugin.name}"
    try:
        for route in plugin.routes:
            if not isinstance(route, web.RouteDef):
                raise TypeError(f"routes() must return aiohttp RouteDefs, got {route!r}")
            web.RouteDef(route.method, prefix + "/" + route.path.lstrip("/"),
                         _plugin_handler(plugin.name, route.handler),
                         route.kwargs).register(app.router)
    except Exception as err:
        log.error("plugin %s: cannot mount its routes: %s", plugin.name, err)
        plugin.fail("routes", err)


def _plugin_handler(plugin: str, handler: Any) -> Any:
    """A plugin's admin route is recorded under the plugin's name (`spotify.authorize`)."""
    marker = getattr(handler, "__hub_admin__", None)
    if marker is None:
        return handler

    @functools.wraps(handler)
    async def admin_handler(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    admin_handler.__hub_admin__ = (f"{plugin}.{marker[0]}", *marker[1:])  # type: ignore[attr-defined]
    return admin_handler


def build_app(hub: Hub) -> web.Application:
    max_body = hub.config.hub.get("max_body_bytes", 64 * 1024)
    app = web.Application(middlewares=[api_middleware], client_max_size=max_body)
    app[HUB_KEY] = hub
    app[MAX_BODY_KEY] = max_body
    app[LOG_LIMIT_KEY] = LogLimiter(hub.clock)

    async def lifecycle(app: web.Application):
        await hub.start()
        yield
        await hub.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/health", health)
    app.router.add_get("/plugins", list_plugins)
    app.router.add_get("/devices", list_devices)
    app.router.add_get("/devices/{device_id}", get_device)
    app.router.add_post("/actions", post_action)
    app.router.add_get("/actions/catalog", action_catalog)
    app.router.add_get("/media/browse", browse_media)
    app.router.add_get("/media/search", search_media)
    app.router.add_post("/discover", post_discover)
    app.router.add_get("/audit", get_audit)
    app.router.add_get("/audit/verify", verify_audit)
    app.router.add_get("/tokens", list_tokens)
    app.router.add_post("/tokens", create_token)
    app.router.add_delete("/tokens/{name}", revoke_token)
    for plugin in hub.plugins.active():
        _mount_plugin_routes(app, plugin)
    from hub import dashboard, sessions, ws

    ws.register(app, hub)
    sessions.register_routes(app, hub)
    dashboard.register(app)
    if hub.automations is not None:
        from hub.automations import register_routes

        register_routes(app, hub)
    return app
