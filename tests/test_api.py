"""REST behaviour: one error shape, the right status, never a 500 for bad input, dry runs."""

from __future__ import annotations

import json

import pytest

from hub.plugin import Device, PluginInfo, RateLimited, hookimpl, standard_actions

DEMO = {"plugins": {"demo": {"players": 2}}}


@pytest.fixture
async def harness(hub_factory):
    return await hub_factory(DEMO, only=["demo"])


def is_error(body, code: str) -> bool:
    return isinstance(body, dict) and set(body) == {"error"} and body["error"]["code"] == code \
        and isinstance(body["error"]["message"], str)


async def test_health_needs_no_token(harness):
    status, body = await harness.get("/health", token=None)
    assert status == 200 and body["status"] == "ok"


@pytest.mark.parametrize("body, code", [
    ({"action": "play"}, "invalid_request"),
    ({"device": "demo.player_1"}, "invalid_request"),
    ({"device": 5, "action": "play"}, "invalid_request"),
    ({"device": "demo.player_1", "action": "play", "params": [1]}, "invalid_request"),
    ({"device": "demo.player_1", "action": "play", "dry_run": "yes"}, "invalid_request"),
    ({"device": "demo.player_1", "action": "play", "extra": 1}, "invalid_request"),
    ({"device": "demo.player_1", "action": "fly"}, "unsupported_action"),
    ({"device": "demo.player_1", "action": "volume_set", "params": {}}, "invalid_params"),
    ({"device": "demo.player_1", "action": "volume_set", "params": {"volume": "loud"}},
     "invalid_params"),
    ({"device": "demo.player_1", "action": "play", "params": {"x": 1}}, "invalid_params"),
    ([1, 2], "invalid_request"),
])
async def test_bad_action_requests_are_400(harness, body, code):
    status, answer = await harness.request("POST", "/actions", json=body)
    assert status == 400, answer
    assert is_error(answer, code), answer


async def test_unknown_things_are_404(harness):
    status, body = await harness.act("demo.nope", "play")
    assert status == 404 and is_error(body, "unknown_device")
    status, body = await harness.get("/devices/demo.nope")
    assert status == 404 and is_error(body, "unknown_device")
    status, body = await harness.get("/no/such/route")
    assert status == 404 and is_error(body, "not_found")
    status, body = await harness.request("PUT", "/devices")
    assert status == 405 and is_error(body, "method_not_allowed")


async def test_body_rules(harness):
    headers = {"Authorization": f"Bearer {harness.owner_token}"}
    resp = await harness.client.post("/actions", data="{nope", headers={
        **headers, "Content-Type": "application/json"})
    assert resp.status == 400 and is_error(await resp.json(), "invalid_json")
    resp = await harness.client.post("/actions", data=json.dumps({"device": "x"}),
                                     headers={**headers, "Content-Type": "text/plain"})
    assert resp.status == 415 and is_error(await resp.json(), "unsupported_media_type")
    resp = await harness.client.post("/actions", data=b"", headers=headers)
    assert resp.status == 400
    big = json.dumps({"device": "demo.player_1", "action": "play",
                      "params": {"x": "a" * 100_000}})
    resp = await harness.client.post("/actions", data=big, headers={
        **headers, "Content-Type": "application/json"})
    assert resp.status == 413 and is_error(await resp.json(), "payload_too_large")


async def test_auth_errors_are_401_with_the_error_shape(harness):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer hub_wrong"}):
        resp = await harness.client.get("/devices", headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert is_error(await resp.json(), "unauthenticated")


async def test_action_answers_result_state_and_correlation_id(harness):
    status, body = await harness.act("demo.player_1", "volume_set", {"volume": 12})
    assert status == 200
    assert body["state"]["attributes"]["volume"] == 12
    assert body["correlation_id"] and body["dry_run"] is False
    _, audit = await harness.get(f"/audit?correlation_id={body['correlation_id']}")
    assert [r["record"] for r in audit["records"]] == ["outcome", "decision"]


async def test_dry_run_decides_and_audits_but_does_not_act(harness):
    status, body = await harness.act("demo.player_1", "volume_set", {"volume": 99},
                                     dry_run=True)
    assert status == 200
    assert body["dry_run"] is True
    assert body["would"] == {"plugin": "demo", "params": {"volume": 99},
                             "required": "SUPERVISED"}
    assert body["state"]["attributes"]["volume"] == 30
    intern = await harness.token("intern", maturity="INTERN")
    status, body = await harness.act("demo.player_1", "volume_set", {"volume": 99},
                                     dry_run=True, token=intern)
    assert status == 403
    _, audit = await harness.get("/audit?limit=3")
    assert audit["records"][0]["decision"] == "deny"
    assert audit["records"][1]["outcome"] == "dry_run"


class Flaky:
    @hookimpl
    def describe(self):
        return PluginInfo(actions=standard_actions("play", "pause"))

    @hookimpl
    def discover(self, ctx):
        return [Device(id="flaky.one", name="One", actions=frozenset({"play", "pause"}),
                       available=False, unavailable_reason="speaker unplugged")]

    @hookimpl
    def act(self, ctx, device, action, params):
        raise RateLimited("slow down", retry_after=7)


async def test_unavailable_device_is_409_and_rate_limit_is_429(hub_factory):
    harness = await hub_factory({"plugins": {"flaky": {}}}, only=[],
                                extra_plugins={"flaky": Flaky()})
    status, body = await harness.act("flaky.one", "play")
    assert status == 409 and is_error(body, "device_unavailable")
    assert "speaker unplugged" in body["error"]["message"]
    _, device = await harness.get("/devices/flaky.one")
    assert device["state"] == "unavailable"
    assert device["unavailable_reason"] == "speaker unplugged"
    harness.hub.plugins.plugins["flaky"].ctx.update_device("flaky.one", available=True)
    resp = await harness.client.post(
        "/actions", json={"device": "flaky.one", "action": "play"},
        headers={"Authorization": f"Bearer {harness.owner_token}"})
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "7"
    assert (await resp.json())["error"]["retry_after"] == 7


async def test_tokens_api_shows_a_token_once(harness):
    status, body = await harness.request("POST", "/tokens", json={
        "name": "dash", "kind": "agent", "maturity": "SUPERVISED"})
    assert status == 201 and body["token"].startswith("hub_")
    token = body["token"]
    _, listing = await harness.get("/tokens")
    assert token not in json.dumps(listing)
    assert {"name": "dash", "kind": "agent", "maturity": "SUPERVISED"}.items() <= next(
        t for t in listing["tokens"] if t["name"] == "dash").items()
    status, _ = await harness.act("demo.player_1", "play", token=token)
    assert status == 200
    status, body = await harness.request("POST", "/tokens", json={"name": "dash"})
    assert status == 409
    status, body = await harness.request("POST", "/tokens", json={"name": "x", "maturity": "BOSS"})
    assert status == 400 and body["error"]["field"] == "maturity"
    status, _ = await harness.request("DELETE", "/tokens/dash")
    assert status == 200
    status, _ = await harness.act("demo.player_1", "play", token=token)
    assert status == 401
    status, body = await harness.request("DELETE", "/tokens/dash")
    assert status == 404


async def test_discover_finds_nothing_new_twice(harness):
    status, body = await harness.request("POST", "/discover", json={"plugin": "demo"})
    assert status == 200 and body["plugins"] == {"demo": {"new": []}}
    status, body = await harness.request("POST", "/discover", json={"plugin": "nope"})
    assert status == 404


class Routed:
    """A plugin with routes made the usual aiohttp way, and a discovery that fails on demand."""

    def __init__(self) -> None:
        self.fail_discovery = False

    @hookimpl
    def describe(self):
        return PluginInfo()

    @hookimpl
    def discover(self, ctx):
        if self.fail_discovery:
            raise OSError("network down")
        return []

    @hookimpl
    def routes(self, ctx):
        from aiohttp import web

        from hub.plugin import public_route

        async def hello(request):
            principal = await ctx.authenticate(request)
            return web.json_response({"hello": principal.name})

        @public_route
        async def callback(request):
            return web.json_response({"public": True})

        return [web.get("/hello", hello), web.get("/callback", callback)]


async def test_plugin_routes_are_mounted_and_authenticated(hub_factory):
    harness = await hub_factory({"plugins": {"routed": {}}}, only=[],
                                extra_plugins={"routed": Routed()})
    status, body = await harness.get("/integrations/routed/hello")
    assert status == 200 and body == {"hello": "owner"}
    status, body = await harness.get("/integrations/routed/hello", token=None)
    assert status == 401
    status, body = await harness.get("/integrations/routed/callback", token=None)
    assert status == 200 and body == {"public": True}


async def test_failing_discovery_of_one_plugin_is_502_and_audited(hub_factory):
    plugin = Routed()
    harness = await hub_factory({"plugins": {"routed": {}}}, only=[],
                                extra_plugins={"routed": plugin})
    plugin.fail_discovery = True
    status, body = await harness.request("POST", "/discover", json={"plugin": "routed"})
    assert status == 502 and "network down" in body["error"]["message"]
    _, audit = await harness.get("/audit?limit=2")
    assert audit["records"][0]["record"] == "outcome"
    assert audit["records"][0]["outcome"] == "error"
    assert audit["records"][0]["error"].startswith("upstream_error: discovery of routed")
    status, body = await harness.request("POST", "/discover", json=["routed"])
    assert status == 400


async def test_method_not_allowed_says_what_is(harness):
    resp = await harness.client.delete(
        "/devices", headers={"Authorization": f"Bearer {harness.owner_token}"})
    assert resp.status == 405 and "GET" in resp.headers["Allow"]


async def test_access_log_never_carries_credentials(harness, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="aiohttp.access")
    await harness.get("/devices?secret_query=abc123", token=True)
    await harness.request("POST", "/webhooks/AbCdEfGhIjKlMnOpQrStUvWxYz012345", token=None,
                          json={})
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("GET /devices 200" in line for line in lines), lines
    assert any("/webhooks/<redacted> 404" in line for line in lines), lines
    assert not [line for line in lines if "abc123" in line or "AbCdEfGh" in line]
    assert harness.owner_token not in caplog.text


class Administered:
    """A plugin with administrative routes: one marked, one using ctx.admin after reading
    its body."""

    @hookimpl
    def describe(self):
        return PluginInfo()

    @hookimpl
    def routes(self, ctx):
        from aiohttp import web

        from hub.plugin import InvalidRequest, admin_route

        @admin_route("forget", target="what")
        async def forget(request):
            return web.json_response({"forgotten": request.match_info["what"]})

        async def link(request):
            principal = await ctx.authenticate(request)
            body = await request.json()
            async with ctx.admin(principal, "link", params={"market": body.get("market")}):
                if body.get("market") == "XX":
                    raise InvalidRequest("no such market", code="invalid_market")
            return web.json_response({"linked": True})

        return [web.delete("/forget/{what}", forget), web.post("/link", link)]


async def test_plugin_admin_requests_take_the_one_admin_path(hub_factory):
    harness = await hub_factory({"plugins": {"adm": {}}}, only=[],
                                extra_plugins={"adm": Administered()})
    agent = await harness.token("bot", maturity="AUTONOMOUS")
    assert (await harness.request("DELETE", "/integrations/adm/forget/cache"))[0] == 200
    status, body = await harness.request("DELETE", "/integrations/adm/forget/cache",
                                         token=agent)
    assert status == 403 and body["error"]["required"] == "OWNER"
    assert (await harness.request("POST", "/integrations/adm/link", json={"market": "SE"}))[0] \
        == 200
    status, body = await harness.request("POST", "/integrations/adm/link", json={"market": "XX"})
    assert status == 400 and body["error"]["code"] == "invalid_market"
    status, _ = await harness.request("POST", "/integrations/adm/link", token=agent,
                                      json={"market": "SE"})
    assert status == 403
    records = list(reversed(await harness.hub.audit.query(limit=20)))
    seen = [(r["action"], r["principal"], r["decision"] or r["outcome"], r["device"])
            for r in records]
    assert seen == [
        ("adm.forget", "owner", "allow", "cache"), ("adm.forget", "owner", "ok", "cache"),
        ("adm.forget", "bot", "deny", "cache"),
        ("adm.link", "owner", "allow", None), ("adm.link", "owner", "ok", None),
        ("adm.link", "owner", "allow", None), ("adm.link", "owner", "error", None),
        ("adm.link", "bot", "deny", None)]
    assert records[6]["error"] == "invalid_market: no such market"
    assert records[3]["params"] == {"market": "SE"}
