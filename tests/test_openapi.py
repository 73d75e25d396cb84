"""docs/openapi.yaml describes the REST API: every route is in it, and what the real hub
answers (successes and every error status) validates against it with openapi-core."""

from __future__ import annotations

import asyncio
import json as jsonlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from werkzeug.datastructures import Headers, ImmutableMultiDict

from hub.plugin import (
    ActionSpec,
    BrowseResult,
    Device,
    MediaItem,
    PluginInfo,
    RateLimited,
    RelinkRequired,
    hookimpl,
)

SPEC_PATH = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
# The server in the spec; requests are validated as if sent there (the test port is random).
SPEC_HOST = "http://127.0.0.1:8765"
CONFIG = {"plugins": {"demo": {"players": 2}}}
BODY_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def spec_dict() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


@pytest.fixture(scope="module")
def api() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_PATH))  # also checks the spec itself


# -- openapi-core protocol objects -------------------------------------------------------------


@dataclass
class SpecRequest:
    """openapi_core.protocols.Request for a request sent to the hub."""

    method: str
    path: str
    body: bytes | None
    content_type: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    host_url: str = SPEC_HOST

    def __post_init__(self) -> None:
        self.method = self.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.query), header=Headers(self.headers),
            cookie=ImmutableMultiDict(), path={})


@dataclass
class SpecResponse:
    """openapi_core.protocols.Response for the hub's answer."""

    status_code: int
    data: bytes
    content_type: str
    headers: Headers


@dataclass
class Answer:
    status: int
    body: Any
    headers: Headers
    request: SpecRequest
    response: SpecResponse


class Checker:
    """Sends requests to a real hub and validates each request/response pair."""

    def __init__(self, api: OpenAPI, harness: Any) -> None:
        self.api = api
        self.harness = harness

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | bool | None = True,
        json: Any = None,
        data: bytes | str | None = None,
        content_type: str | None = None,
        expect: int,
        valid_request: bool = True,
    ) -> Answer:
        headers: dict[str, str] = {}
        if token is True:
            token = self.harness.owner_token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if json is not None:
            data = jsonlib.dumps(json)
            content_type = content_type or "application/json"
        if isinstance(data, str):
            data = data.encode()
        if content_type:
            headers["Content-Type"] = content_type
        async with self.harness.client.request(method, path, data=data,
                                               headers=headers) as resp:
            raw = await resp.read()
            status, resp_headers = resp.status, Headers(list(resp.headers.items()))
            resp_type = resp.headers.get("Content-Type", "")
        assert status == expect, (method, path, status, raw[:500])
        parts = urlsplit(path)
        request = SpecRequest(method, parts.path, data, content_type or "",
                              parse_qsl(parts.query, keep_blank_values=True), headers)
        response = SpecResponse(status, raw, resp_type, resp_headers)
        body = jsonlib.loads(raw) if resp_type.startswith("application/json") else raw
        if status >= 400:
            # One error shape everywhere.
            assert set(body) == {"error"}, body
            assert isinstance(body["error"]["code"], str) and body["error"]["message"], body
        if valid_request:
            self.api.validate_request(request)
        self.api.validate_response(request, response)
        return Answer(status, body, resp_headers, request, response)


# -- a plugin whose failures the demo cannot produce (429, 409 relink, 502, 504) ----------------


class FlakyPlugin:
    """One device; each action fails in its own way."""

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo(
            description="fails on purpose",
            actions={name: ActionSpec(name=name) for name in
                     ("crash", "throttle", "relink", "hang")},
            timeout=10.0,
        )

    @hookimpl
    def discover(self, ctx):
        return [Device(id="flaky.one", name="Flaky",
                       actions=frozenset({"crash", "throttle", "relink", "hang"}))]

    @hookimpl
    async def act(self, ctx, device, action, params):
        if action == "crash":
            raise RuntimeError("boom")
        if action == "throttle":
            raise RateLimited("slow down", retry_after=3)
        if action == "relink":
            raise RelinkRequired("link the account again", device=device.id)
        await asyncio.sleep(30)  # "hang": longer than the plugin's timeout


@pytest.fixture
async def harness(hub_factory):
    return await hub_factory(CONFIG, only=["demo"])


@pytest.fixture
def checker(api, harness) -> Checker:
    return Checker(api, harness)


# -- (a) every route is in the spec ---------------------------------------------------------------


def _app_routes(harness) -> set[tuple[str, str]]:
    routes = set()
    for route in harness.client.server.app.router.routes():
        if route.method == "HEAD":  # aiohttp adds HEAD beside every GET
            continue
        path = route.resource.canonical
        if path.startswith("/integrations/"):
            continue
        routes.add((route.method.lower(), path))
    return routes


async def test_every_route_is_in_the_spec(harness, spec_dict):
    routes = _app_routes(harness)
    assert ("get", "/health") in routes and ("delete", "/tokens/{name}") in routes
    missing = [(m, p) for m, p in sorted(routes) if m not in spec_dict["paths"].get(p, {})]
    assert not missing, f"routes missing from docs/openapi.yaml: {missing}"


async def test_every_spec_operation_is_served(harness, spec_dict):
    routes = _app_routes(harness)
    methods = {"get", "post", "put", "patch", "delete"}
    documented = {(m, p) for p, item in spec_dict["paths"].items() for m in item if m in methods}
    assert documented <= routes, documented - routes


async def test_the_validator_rejects_what_the_spec_does_not_allow(api):
    health = SpecRequest("GET", "/health", None, "")
    api.validate_response(health, SpecResponse(
        200, b'{"status":"ok","version":"0.1.0"}', "application/json", Headers()))
    with pytest.raises(OpenAPIError):
        api.validate_response(health, SpecResponse(
            200, b'{"status":"ok"}', "application/json", Headers()))
    with pytest.raises(OpenAPIError):
        api.validate_response(health, SpecResponse(
            500, b'{"error":{"code":"x","message":"y"}}', "application/json", Headers()))
    device = SpecRequest("GET", "/devices/demo.x", None, "",
                         headers={"Authorization": "Bearer t"})
    with pytest.raises(OpenAPIError):
        api.validate_response(device, SpecResponse(
            200, b'{"id":"demo.x"}', "application/json", Headers()))
    with pytest.raises(OpenAPIError):  # no bearer token
        api.validate_request(SpecRequest("GET", "/devices", None, ""))


def test_spec_documents_auth_and_error_shape(spec_dict):
    assert spec_dict["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    public = {p for p, item in spec_dict["paths"].items()
              for op in item.values() if isinstance(op, dict) and op.get("security") == []}
    assert public == {"/health", "/ws", "/webhooks/{webhook_id}", "/", "/static/{path}",
                      "/auth/session"}
    error = spec_dict["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]
    for path, item in spec_dict["paths"].items():
        for method, op in item.items():
            if op.get("security") != []:
                assert "401" in op["responses"], (method, path)


# -- (b) responses validate: successes ------------------------------------------------------------


async def test_read_routes(checker):
    body = (await checker.call("GET", "/health", token=None, expect=200)).body
    assert body["status"] == "ok"
    plugins = (await checker.call("GET", "/plugins", expect=200)).body["plugins"]
    demo = next(p for p in plugins if p["name"] == "demo")
    assert demo["status"] == "loaded" and demo["devices"] == 2 and "details" in demo
    assert any(p["status"] != "loaded" for p in plugins)  # disabled plugins validate too
    devices = (await checker.call("GET", "/devices", expect=200)).body["devices"]
    assert [d["id"] for d in devices] == ["demo.player_1", "demo.player_2"]
    await checker.call("GET", "/devices?plugin=demo", expect=200)
    await checker.call("GET", "/devices?plugin=nothing", expect=200)
    device = (await checker.call("GET", "/devices/demo.player_1", expect=200)).body
    assert device["plugin"] == "demo" and device["state"] == "idle"
    ranked = (await checker.call("GET", "/devices?match=living%20room%20speaker",
                                 expect=200)).body["devices"]
    assert ranked[0]["id"] == "demo.player_1" and ranked[0]["match"]["field"] == "name"
    device = (await checker.call("GET", "/devices/name:kitchen", expect=200)).body
    assert device["id"] == "demo.player_2"


async def test_actions_and_catalog(checker, harness):
    answer = await checker.call("POST", "/actions", expect=200, json={
        "device": "demo.player_1", "action": "play"})
    assert answer.body["state"]["state"] == "playing" and answer.body["result"] is None
    answer = await checker.call("POST", "/actions", expect=200, json={
        "device": "demo.player_1", "action": "volume_get", "params": {}})
    assert answer.body["result"] == {"volume": 30}
    answer = await checker.call("POST", "/actions", expect=200, json={
        "device": "demo.player_1", "action": "play_media", "params": {"media_id": "demo:track:3"},
        "dry_run": True})
    assert answer.body["would"]["params"]["enqueue"] == "play"
    await checker.call("POST", "/actions", expect=200, json={
        "device": "demo.player_1", "action": "join",
        "params": {"group_members": ["demo.player_2"]}})

    catalog = (await checker.call("GET", "/actions/catalog", expect=200)).body["devices"]
    assert {d["device"] for d in catalog} == {"demo.player_1", "demo.player_2"}
    intern = await harness.token("reader", maturity="INTERN")
    catalog = (await checker.call("GET", "/actions/catalog?device=demo.player_2", token=intern,
                                  expect=200)).body["devices"]
    allowed = {a["name"]: a["allowed"] for a in catalog[0]["actions"]}
    assert allowed["volume_get"] and not allowed["play"]


async def test_admin_routes(checker, harness):
    body = (await checker.call("POST", "/discover", expect=200)).body
    assert body["plugins"] == {"demo": {"new": []}}
    await checker.call("POST", "/discover", json={"plugin": "demo"}, expect=200)

    await checker.call("POST", "/actions", expect=200, json={
        "device": "demo.player_2", "action": "volume_set", "params": {"volume": 12}})
    records = (await checker.call("GET", "/audit", expect=200)).body["records"]
    assert records and records[0]["seq"] > records[-1]["seq"]
    page = (await checker.call("GET", "/audit?limit=2", expect=200)).body
    assert len(page["records"]) == 2 and "next_before" in page
    await checker.call("GET", f"/audit?limit=2&before={page['next_before']}", expect=200)
    await checker.call("GET", "/audit?device=demo.player_2&principal=owner"
                              "&since=2020-01-01T00:00:00Z", expect=200)
    cid = records[0]["correlation_id"]
    same = (await checker.call("GET", f"/audit?correlation_id={cid}&since=0",
                               expect=200)).body["records"]
    assert {r["record"] for r in same} == {"decision", "outcome"}

    created = await checker.call("POST", "/tokens", expect=201, json={
        "name": "assistant", "kind": "agent", "maturity": "SUPERVISED"})
    assert created.body["token"].startswith("hub_") and created.body["maturity"] == "SUPERVISED"
    await checker.call("POST", "/tokens", expect=201, json={"name": "robot"})
    tokens = (await checker.call("GET", "/tokens", expect=200)).body["tokens"]
    assert {t["name"] for t in tokens} >= {"owner", "assistant", "robot"}
    revoked = await checker.call("DELETE", "/tokens/assistant", expect=200)
    assert revoked.body["revoked"]["name"] == "assistant"
    await checker.call("GET", "/devices", token=created.body["token"], expect=401)


async def test_automation_routes(checker, harness, tmp_path):
    # Started from a dict, the hub has no file to re-read: 400 invalid_config.
    answer = await checker.call("POST", "/automations/reload", expect=400)
    assert answer.body["error"]["code"] == "invalid_config"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG))
    harness.hub.config.path = config_file
    answer = await checker.call("POST", "/automations/reload", expect=200)
    assert answer.body["reloaded"] is True
    answer = await checker.call("GET", "/automations", expect=200)
    assert answer.body == {"automations": []}
    # Reloading is administration: decided and audited, failure and success alike.
    answer = await checker.call("GET", "/audit?limit=4", expect=200)
    assert [(r["action"], r["record"], r["outcome"]) for r in answer.body["records"]] == [
        ("reload_config", "outcome", "ok"), ("reload_config", "decision", None),
        ("reload_config", "outcome", "error"), ("reload_config", "decision", None)]
    await checker.call("POST", "/webhooks/not-a-real-hook", token=None, expect=404)


async def test_dashboard_and_session_routes(checker, harness):
    page = await checker.call("GET", "/", token=None, expect=200)
    assert page.body.startswith(b"<!doctype html>")
    await checker.call("GET", "/static/app.css", token=None, expect=200)
    await checker.call("GET", "/static/nothing.js", token=None, expect=404)
    async with harness.client.get("/static/js/main.js") as resp:  # nested: beyond a template
        assert resp.status == 200 and resp.content_type == "text/javascript"
    code = (await checker.call("POST", "/auth/codes", expect=201)).body["code"]
    await checker.call("POST", "/auth/codes", json={"ttl": 5}, expect=400, valid_request=False)
    who = await checker.call("GET", "/auth/session", token=None, expect=200)
    assert who.body == {"principal": None, "session": None, "via": None}
    await checker.call("GET", "/auth/session", expect=200)
    await checker.call("POST", "/auth/session", token=None, json={"code": "nope"}, expect=401)
    await checker.call("POST", "/auth/session", token=None, json={"code": 1}, expect=400,
                       valid_request=False)
    signed = await checker.call("POST", "/auth/session", token=None, json={"code": code},
                                expect=201)
    assert "hub_session=" in signed.headers["Set-Cookie"]
    # From here the client's cookie jar carries the session (not modelled by the validator's
    # request, so those requests are not validated; their answers are).
    who = await checker.call("GET", "/auth/session", token=None, expect=200)
    assert who.body["via"] == "session"
    sessions = (await checker.call("GET", "/auth/sessions", expect=200)).body["sessions"]
    assert sessions[0]["principal"]["name"] == "owner"
    intern = await harness.token("looker", maturity="INTERN")
    await checker.call("GET", "/auth/sessions", token=intern, expect=403)
    await checker.call("DELETE", "/auth/sessions/0123", expect=404)
    await checker.call("DELETE", "/auth/session", expect=400)  # a bearer request has none
    async with harness.client.post("/actions", json={"device": "demo.player_1", "action": "play"},
                                   headers={"Origin": "http://elsewhere.example"}) as resp:
        assert resp.status == 403
        request = SpecRequest("POST", "/actions", b"{}", "application/json",
                              headers={"Authorization": "Bearer x"})
        answer = SpecResponse(403, await resp.read(), resp.headers["Content-Type"],
                              Headers(list(resp.headers.items())))
        checker.api.validate_response(request, answer)  # the cross_origin shape
    await checker.call("DELETE", "/auth/session", token=None, expect=200, valid_request=False)
    verify = (await checker.call("GET", "/audit/verify", expect=200)).body
    assert verify["ok"] and verify["records"] > 0
    await checker.call("GET", "/audit/verify", token=intern, expect=403)
    await checker.call("GET", "/audit?decision=deny&outcome=ok&after=1&until=2030-01-01",
                       expect=200)


async def test_websocket_route_without_upgrade(checker):
    await checker.call("GET", "/ws", token=None, expect=400)


# -- (b) responses validate: errors ---------------------------------------------------------------


PROTECTED = [
    ("GET", "/plugins", None), ("GET", "/devices", None), ("GET", "/devices/demo.player_1", None),
    ("POST", "/actions", {"device": "demo.player_1", "action": "play"}),
    ("GET", "/actions/catalog", None), ("POST", "/discover", None), ("GET", "/audit", None),
    ("GET", "/tokens", None), ("POST", "/tokens", {"name": "x"}), ("DELETE", "/tokens/owner", None),
    ("POST", "/automations/reload", None),
    ("GET", "/media/browse?device=demo.player_1", None), ("GET", "/media/search?q=x", None),
]


async def test_401_without_or_with_a_bad_token(checker):
    for method, path, body in PROTECTED:
        for token in (None, "hub_not-a-token"):
            answer = await checker.call(method, path, token=token, json=body, expect=401,
                                        valid_request=False)
            assert answer.headers["WWW-Authenticate"] == 'Bearer realm="hub"'
            assert answer.body["error"]["code"] == "unauthenticated"
    async with checker.harness.client.get(
            "/devices", headers={"Authorization": "Basic abc"}) as resp:
        assert resp.status == 401


async def test_403_for_an_intern_agent(checker, harness):
    intern = await harness.token("bot", maturity="INTERN")
    cases = [
        ("POST", "/actions", {"device": "demo.player_1", "action": "pause"}, "SUPERVISED"),
        ("POST", "/actions", {"device": "demo.player_1", "action": "play", "dry_run": True},
         "SUPERVISED"),
        ("POST", "/discover", None, "OWNER"),
        ("GET", "/audit", None, "OWNER"),
        ("GET", "/tokens", None, "OWNER"),
        ("POST", "/tokens", {"name": "sneaky", "maturity": "AUTONOMOUS"}, "OWNER"),
        ("DELETE", "/tokens/owner", None, "OWNER"),
        ("POST", "/automations/reload", None, "OWNER"),
    ]
    for method, path, body, required in cases:
        answer = await checker.call(method, path, token=intern, json=body, expect=403)
        error = answer.body["error"]
        assert error["code"] == "forbidden", error
        assert (error["required"], error["maturity"]) == (required, "INTERN"), error
    # Reading stays open to every authenticated principal.
    await checker.call("GET", "/devices/demo.player_1", token=intern, expect=200)
    await checker.call("POST", "/actions", token=intern, expect=200,
                       json={"device": "demo.player_1", "action": "volume_get"})


async def test_404_unknown(checker):
    answer = await checker.call("GET", "/devices/demo.nope", expect=404)
    assert answer.body["error"]["code"] == "unknown_device"
    answer = await checker.call("POST", "/actions", expect=404,
                                json={"device": "demo.nope", "action": "play"})
    assert answer.body["error"]["code"] == "unknown_device"
    await checker.call("GET", "/actions/catalog?device=demo.nope", expect=404)
    await checker.call("POST", "/discover", json={"plugin": "nope"}, expect=404)
    await checker.call("DELETE", "/tokens/nobody", expect=404)


async def test_400_bad_input(checker):
    bad_actions = [
        ({"device": "demo.player_1", "action": "volume_set", "params": {"volume": 150}},
         "invalid_params"),
        ({"device": "demo.player_1", "action": "volume_set", "params": {"level": 1}},
         "invalid_params"),
        ({"device": "demo.player_1", "action": "fly"}, "unsupported_action"),
        ({"device": "demo.player_1", "action": "seek", "params": {"position": 99999}},
         "invalid_params"),  # refused by the plugin itself, after the gate
    ]
    for body, code in bad_actions:
        answer = await checker.call("POST", "/actions", json=body, expect=400)
        assert answer.body["error"]["code"] == code, answer.body
    # Bodies that the spec itself rejects: only the response is validated.
    malformed = [
        {"device": "demo.player_1", "action": "play", "dry_run": "yes"},
        {"device": "demo.player_1", "action": "play", "extra": 1},
        {"device": 7, "action": "play"},
        {"device": "demo.player_1"},
        {"device": "demo.player_1", "action": "play", "params": [1]},
        ["demo.player_1", "play"],
    ]
    for body in malformed:
        answer = await checker.call("POST", "/actions", json=body, expect=400,
                                    valid_request=False)
        assert answer.body["error"]["code"] == "invalid_request", answer.body
    for raw in ("{", "\xff", ""):
        answer = await checker.call("POST", "/actions", data=raw.encode("latin-1"),
                                    content_type="application/json", expect=400,
                                    valid_request=False)
        assert answer.body["error"]["code"] == "invalid_json", answer.body
    answer = await checker.call("POST", "/tokens", data="{", content_type="application/json",
                                expect=400, valid_request=False)
    assert answer.body["error"]["code"] == "invalid_json"
    for query in ("limit=0", "limit=1001", "limit=ten", "before=0", "since=yesterday"):
        answer = await checker.call("GET", f"/audit?{query}", expect=400, valid_request=False)
        assert answer.body["error"]["field"] == query.split("=")[0]
    for body in ({"name": "bad name!"}, {"name": "ok", "kind": "robot"},
                 {"name": "ok", "maturity": "GURU"}, {"name": "boss", "kind": "owner",
                                                      "maturity": "INTERN"}):
        answer = await checker.call("POST", "/tokens", json=body, expect=400,
                                    valid_request=False)
        assert answer.body["error"]["field"] in ("name", "kind", "maturity")


async def test_409_conflicts(checker, harness):
    await checker.call("POST", "/tokens", json={"name": "twice"}, expect=201)
    answer = await checker.call("POST", "/tokens", json={"name": "twice"}, expect=409)
    assert answer.body["error"]["code"] == "exists"
    harness.hub.registry.update("demo", "demo.player_2", available=False, reason="unplugged")
    device = (await checker.call("GET", "/devices/demo.player_2", expect=200)).body
    assert device["state"] == "unavailable" and device["unavailable_reason"] == "unplugged"
    answer = await checker.call("POST", "/actions", expect=409,
                                json={"device": "demo.player_2", "action": "play"})
    assert answer.body["error"]["code"] == "device_unavailable"
    assert answer.body["error"]["reason"] == "unplugged"


async def test_413_body_too_large(checker):
    big = {"device": "demo.player_1", "action": "play", "params": {"pad": "x" * BODY_LIMIT}}
    for path in ("/actions", "/tokens", "/discover"):
        answer = await checker.call("POST", path, json=big, expect=413, valid_request=False)
        assert answer.body["error"]["code"] == "payload_too_large"
        assert str(BODY_LIMIT) in answer.body["error"]["message"]


async def test_415_wrong_content_type(checker):
    for path, body in (("/actions", '{"device": "demo.player_1", "action": "play"}'),
                       ("/tokens", '{"name": "plain"}'), ("/discover", "{}")):
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            answer = await checker.call("POST", path, data=body, content_type=content_type,
                                        expect=415, valid_request=False)
            assert answer.body["error"]["code"] == "unsupported_media_type"


async def test_unknown_route_and_method_keep_the_error_shape(checker, harness):
    # Not in the spec (there is no operation to validate against): check the shape here.
    for method, path, status in (("GET", "/nope", 404), ("PUT", "/devices", 405),
                                 ("GET", "/actions", 405)):
        async with harness.client.request(method, path) as resp:
            assert resp.status == status
            body = await resp.json()
        assert set(body["error"]) == {"code", "message"}


async def test_plugin_failures_502_504_429_409(api, hub_factory):
    harness = await hub_factory(
        {"plugins": {"demo": {"players": 1}, "flaky": {"timeout": 0.05}}},
        only=["demo", "flaky"], extra_plugins={"flaky": FlakyPlugin()})
    checker = Checker(api, harness)

    def act(action):
        return {"device": "flaky.one", "action": action}

    answer = await checker.call("POST", "/actions", json=act("crash"), expect=502)
    error = answer.body["error"]
    assert (error["code"], error["plugin"], error["device"]) == (
        "upstream_error", "flaky", "flaky.one")
    assert "boom" in error["message"]
    answer = await checker.call("POST", "/actions", json=act("hang"), expect=504)
    assert answer.body["error"]["code"] == "timeout"
    answer = await checker.call("POST", "/actions", json=act("throttle"), expect=429)
    assert answer.headers["Retry-After"] == "3" and answer.body["error"]["retry_after"] == 3
    answer = await checker.call("POST", "/actions", json=act("relink"), expect=409)
    assert answer.body["error"]["code"] == "relink_required"
    plugins = (await checker.call("GET", "/plugins", expect=200)).body["plugins"]
    assert {p["name"]: p["status"] for p in plugins}["flaky"] == "loaded"


# -- the media library ----------------------------------------------------------------------------


class FlakyMedia:
    """A media provider whose search fails by the query: crash, throttle, hang, junk."""

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo(timeout=10.0)

    @hookimpl
    def discover(self, ctx):
        return [Device(id="flakymedia.one", name="Flaky Media")]

    @hookimpl
    async def search_media(self, ctx, query, types, limit, device):
        if query == "crash":
            raise RuntimeError("boom")
        if query == "throttle":
            raise RateLimited("slow down", retry_after=2)
        if query == "hang":
            await asyncio.sleep(30)
        if query == "junk":
            return [MediaItem("x", "X", "song")]
        return [MediaItem("flakymedia:1", f"{query} one", "track", can_play=True)]

    @hookimpl
    async def browse_media(self, ctx, device, item_id, cursor):
        return BrowseResult(MediaItem("flakymedia:root", "Root", "folder", can_expand=True))


async def test_media_routes(api, hub_factory):
    config = {"plugins": {"demo": {"players": 2}, "flakymedia": {"timeout": 0.05}},
              "governance": {"rules": [{"plugin": "flakymedia", "action": "search_media",
                                        "require": "SUPERVISED"}]}}
    harness = await hub_factory(config, only=["demo", "flakymedia"],
                                extra_plugins={"flakymedia": FlakyMedia()})
    checker = Checker(api, harness)
    root = (await checker.call("GET", "/media/browse?device=demo.player_1", expect=200)).body
    albums = next(c for c in root["children"] if c["title"] == "Albums")
    page = (await checker.call("GET", f"/media/browse?device=name:kitchen&item={albums['id']}",
                               expect=200)).body
    assert page["children"] and page["cursor"] is None
    await checker.call("GET", "/media/browse?device=demo.player_1&item=demo:folder:tracks"
                              "&cursor=25", expect=200)
    await checker.call("GET", "/media/browse?device=flakymedia.one", expect=200)
    found = (await checker.call("GET", "/media/search?q=focus&types=track,playlist&limit=5",
                                expect=200)).body
    assert {r["plugin"] for r in found["results"]} == {"demo", "flakymedia"}
    found = (await checker.call("GET", "/media/search?q=junk", expect=200)).body
    assert found["errors"][0]["code"] == "invalid_media"
    await checker.call("GET", "/media/search?q=focus&device=demo.player_2", expect=200)
    catalog = (await checker.call("GET", "/actions/catalog", expect=200)).body
    assert [m["name"] for m in catalog["media"]] == ["browse_media", "search_media"]

    for path, status, code in (
            ("/media/search?q=crash&plugin=flakymedia", 502, "upstream_error"),
            ("/media/search?q=throttle&plugin=flakymedia", 429, "rate_limited"),
            ("/media/search?q=hang&plugin=flakymedia", 504, "timeout"),
            ("/media/search?q=x&plugin=nope", 404, "unknown_plugin"),
            ("/media/search?q=x&device=demo.nope", 404, "unknown_device"),
            ("/media/browse?device=demo.player_1&item=demo:nope", 404, "unknown_media_item"),
            ("/media/browse?device=demo.player_1&item=demo:folder:tracks&cursor=x", 400,
             "invalid_cursor"),
            ("/media/browse?device=name:zzz", 404, "unknown_device")):
        answer = await checker.call("GET", path, expect=status)
        assert answer.body["error"]["code"] == code, (path, answer.body)
    # Requests the spec itself refuses: only the answer is validated.
    for path in ("/media/search", "/media/search?q=" + "a" * 201, "/media/search?q=x&limit=0",
                 "/media/search?q=x&limit=x", "/media/browse", "/media/search?q=x&zzz=1"):
        answer = await checker.call("GET", path, expect=400, valid_request=False)
        assert answer.body["error"]["code"] == "invalid_request"
    intern = await harness.token("bot", maturity="INTERN")
    answer = await checker.call("GET", "/media/search?q=x&plugin=flakymedia", token=intern,
                                expect=403)
    assert answer.body["error"]["required"] == "SUPERVISED"
    answer = await checker.call("GET", "/media/search?q=focus", token=intern, expect=200)
    assert answer.body["errors"][0]["code"] == "forbidden"
    await checker.call("GET", "/audit?principal=bot", expect=200)  # records with no context


async def test_ambiguous_device_names_409(api, hub_factory):
    harness = await hub_factory({"plugins": {"demo": {"players": ["Den", "Den"]}}},
                                only=["demo"])
    checker = Checker(api, harness)
    for path in ("/devices/name:den", "/media/browse?device=name:den",
                 "/actions/catalog?device=name:den"):
        answer = await checker.call("GET", path, expect=409)
        assert answer.body["error"]["code"] == "ambiguous_device"
        assert [c["id"] for c in answer.body["error"]["candidates"]] == ["demo.den", "demo.den_2"]
    answer = await checker.call("POST", "/actions", json={"device": "name:den", "action": "play"},
                                expect=409)
    answer = await checker.call("POST", "/actions", json={"device": "name:dne", "action": "play"},
                                expect=404)
    assert answer.body["error"]["candidates"][0]["name"] == "Den"
    records = (await checker.call("GET", "/audit?limit=1", expect=200)).body["records"]
    assert records[0]["decision"] == "invalid"
