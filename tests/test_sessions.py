"""Dashboard sign-in (hub.sessions): one-time codes on the hub's clock, cookie sessions bound
to a principal, the Origin rule for cookie-authenticated changes and WebSocket upgrades,
sign-out and revocation, and the audit of it all. A real in-process hub; a ManualClock moves
time instead of sleeping."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from http.cookies import SimpleCookie

import aiohttp
import pytest

from hub import sessions as sessions_module
from hub.cli import main as cli_main
from hub.testing import ManualClock

RECEIVE_TIMEOUT = 5.0  # real seconds; reached only when a test is about to fail
CONFIG = {"plugins": {"demo": {"players": 2}}}


async def _hub(hub_factory, **kwargs):
    return await hub_factory(CONFIG, only=["demo"], clock=ManualClock(), **kwargs)


def _origin(harness) -> dict[str, str]:
    return {"Origin": harness.url}


async def _code(harness, token=True) -> str:
    status, body = await harness.request("POST", "/auth/codes", token=token)
    assert status == 201, body
    assert body["expires_in"] == 60 and body["path"] == f"/#code={body['code']}"
    return body["code"]


async def _sign_in(harness, **body) -> tuple[int, dict, SimpleCookie]:
    async with harness.client.post("/auth/session", json=body) as resp:
        cookie = SimpleCookie()
        for header in resp.headers.getall("Set-Cookie", []):
            cookie.load(header)
        return resp.status, await resp.json(), cookie


async def _records(harness, **query) -> list[dict]:
    status, body = await harness.get("/audit", params={"limit": 1000, **query})
    assert status == 200, body
    return body["records"]


async def test_a_one_time_code_signs_in_once_with_a_strict_httponly_cookie(hub_factory):
    harness = await _hub(hub_factory)
    code = await _code(harness)
    status, body, cookie = await _sign_in(harness, code=code)
    assert status == 201, body
    assert body["principal"] == {"name": "owner", "kind": "owner", "maturity": None}
    assert body["session"]["via"] == "code"
    morsel = cookie["hub_session"]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert not morsel["secure"]  # plain http: a Secure cookie would never come back
    assert code not in json.dumps(body) and morsel.value not in json.dumps(body)

    # The cookie alone authenticates reads (the client's jar sends it).
    status, devices = await harness.get("/devices", token=None)
    assert status == 200 and len(devices["devices"]) == 2
    status, who = await harness.get("/auth/session", token=None)
    assert who["via"] == "session" and who["principal"]["name"] == "owner"

    # A second use of the same code is refused, and recorded: a reused code is a signal.
    status, body, _ = await _sign_in(harness, code=code)
    assert status == 401 and body["error"]["code"] == "invalid_code"
    assert "already used" in body["error"]["message"]
    refused = await _records(harness, decision="deny")
    assert [(r["action"], r["principal"]) for r in refused] == [("redeem_sign_in_code", "owner")]
    assert code not in json.dumps(await _records(harness))


async def test_the_code_expires_after_60_seconds_of_hub_time(hub_factory):
    harness = await _hub(hub_factory)
    late, in_time = await _code(harness), await _code(harness)
    await harness.clock.advance(59.5)
    assert (await _sign_in(harness, code=in_time))[0] == 201
    await harness.clock.advance(0.5)
    status, body, _ = await _sign_in(harness, code=late)
    assert status == 401 and "expired" in body["error"]["message"]
    # An unknown code is refused the same way but not recorded (it names no principal).
    status, body, _ = await _sign_in(harness, code="x" * 32)
    assert status == 401 and body["error"]["code"] == "invalid_code"
    denied = await _records(harness, decision="deny")
    assert len(denied) == 1 and "expired" in denied[0]["reason"]


async def test_sign_in_with_a_token_binds_the_session_to_that_principal(hub_factory):
    harness = await _hub(hub_factory)
    intern = await harness.token("panel", maturity="INTERN")
    status, body, _ = await _sign_in(harness, token=intern)
    assert status == 201 and body["principal"]["maturity"] == "INTERN"
    assert body["session"]["via"] == "token"
    headers = _origin(harness)
    status, body = await harness.request("POST", "/actions", token=None, headers=headers,
                                         json={"device": "demo.player_1", "action": "pause"})
    assert status == 403 and body["error"]["required"] == "SUPERVISED"
    assert body["error"]["maturity"] == "INTERN"
    status, body = await harness.request("POST", "/actions", token=None, headers=headers,
                                         json={"device": "demo.player_1", "action": "volume_get"})
    assert status == 200
    # The audit says which session did it.
    record = (await _records(harness, principal="panel", outcome="ok"))[0]
    assert record["action"] == "volume_get" and record["context"]["session"]
    # Bad credentials: 401, nothing else.
    for bad in ({"token": "hub_nope"}, {"token": ""}):
        assert (await _sign_in(harness, **bad))[0] == 401


@pytest.mark.parametrize("body", [
    {}, {"code": 5}, {"token": None}, {"code": "a", "token": "b"}, {"code": "a", "extra": 1},
    [], "code",
])
async def test_malformed_sign_in_bodies_are_400(hub_factory, body):
    harness = await _hub(hub_factory)
    async with harness.client.post("/auth/session", json=body) as resp:
        assert resp.status == 400, await resp.text()


async def test_hostile_sign_in_input_fails_only_its_own_request(hub_factory):
    harness = await _hub(hub_factory)
    cases = [b'{"code": "\\ud800"}', b'{"code": "' + b"a" * 60000 + b'"}',
             b'{"token": "\\u0000hub_"}', b"[" * 5000, b"\xff\xfe"]
    for raw in cases:
        async with harness.client.post("/auth/session", data=raw,
                                       headers={"Content-Type": "application/json"}) as resp:
            assert resp.status in (400, 401, 413), (raw[:20], resp.status)
    garbage = {"Cookie": 'hub_session="unterminated;;==; __Host-hub_session='}
    async with harness.client.get("/devices", headers=garbage) as resp:
        assert resp.status == 401
    assert (await harness.get("/health", token=None))[0] == 200


async def test_cookie_changes_need_the_hubs_own_origin(hub_factory):
    harness = await _hub(hub_factory)
    await _sign_in(harness, code=await _code(harness))
    act = {"device": "demo.player_1", "action": "play"}
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": harness.url.replace("http:", "https:")},
                    {"Sec-Fetch-Site": "cross-site"}):
        status, body = await harness.request("POST", "/actions", token=None, headers=headers,
                                             json=act)
        assert status == 403 and body["error"]["code"] == "cross_origin", headers
    assert (await harness.device("demo.player_1"))["state"] == "idle"
    status, _ = await harness.request("POST", "/actions", token=None, headers=_origin(harness),
                                      json=act)
    assert status == 200
    # Reads carry no risk: no Origin needed. A bearer token is not ambient: no Origin rule.
    assert (await harness.get("/devices", token=None,
                              headers={"Origin": "http://evil.example"}))[0] == 200
    status, _ = await harness.request("POST", "/actions", headers={"Origin": "http://evil.example"},
                                      json={**act, "action": "pause"})
    assert status == 200
    # No browser page elsewhere may sign a browser in (login CSRF) either.
    code = await _code(harness)
    async with harness.client.post("/auth/session", json={"code": code},
                                   headers={"Origin": "http://evil.example"}) as resp:
        assert resp.status == 403


async def test_https_behind_a_proxy_gets_a_secure_host_prefixed_cookie(hub_factory):
    harness = await _hub(hub_factory)
    code = await _code(harness)
    async with harness.client.post("/auth/session", json={"code": code},
                                   headers={"X-Forwarded-Proto": "https"}) as resp:
        assert resp.status == 201
        cookie = SimpleCookie(resp.headers["Set-Cookie"])
    morsel = cookie["__Host-hub_session"]
    assert morsel["secure"] and morsel["httponly"] and morsel["path"] == "/"
    # Its Origin is https even though the hub itself speaks http.
    async with harness.client.post(
            "/actions", json={"device": "demo.player_1", "action": "play"},
            headers={"Cookie": f"__Host-hub_session={morsel.value}",
                     "Origin": harness.url.replace("http:", "https:"),
                     "X-Forwarded-Proto": "https"}) as resp:
        assert resp.status == 200


async def _ws(harness, headers=None):
    ws = await harness.client.ws_connect("/ws", headers=headers or {})
    msg = json.loads((await ws.receive(timeout=RECEIVE_TIMEOUT)).data)
    assert msg["type"] == "auth_required"
    return ws


async def test_websocket_authenticates_with_the_session_cookie_from_the_same_origin(hub_factory):
    harness = await _hub(hub_factory)
    # Without a cookie, an auth message without a token is refused as before.
    ws = await _ws(harness)
    await ws.send_json({"type": "auth"})
    assert json.loads((await ws.receive(timeout=RECEIVE_TIMEOUT)).data)["type"] == "auth_invalid"
    await ws.close()

    await _sign_in(harness, code=await _code(harness))
    # A cookie-carrying upgrade from another origin is refused before any WebSocket exists.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await harness.client.ws_connect("/ws", headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403

    ws = await _ws(harness, _origin(harness))
    await ws.send_json({"type": "auth"})
    assert json.loads((await ws.receive(timeout=RECEIVE_TIMEOUT)).data)["type"] == "auth_ok"
    await ws.send_json({"id": 1, "type": "act", "device": "demo.player_2", "action": "play"})
    result = json.loads((await ws.receive(timeout=RECEIVE_TIMEOUT)).data)
    assert result["success"], result
    record = (await _records(harness, device="demo.player_2", outcome="ok"))[0]
    assert record["source"] == "ws" and record["context"]["session"]

    # Signing out ends the session and closes its sockets at once.
    status, body = await harness.request("DELETE", "/auth/session", token=None,
                                         headers=_origin(harness))
    assert status == 200 and body["revoked"]["id"] == record["context"]["session"]
    msg = await ws.receive(timeout=RECEIVE_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1008
    assert msg.extra == "session ended"
    status, body = await harness.get("/devices", token=None)
    assert status == 401
    assert (await harness.get("/auth/session", token=None))[1]["principal"] is None
    actions = [r["action"] for r in await _records(harness, principal="owner")]
    assert {"create_sign_in_code", "create_session", "revoke_session"} <= set(actions)


async def test_sign_out_needs_a_session_and_the_same_origin(hub_factory):
    harness = await _hub(hub_factory)
    status, body = await harness.request("DELETE", "/auth/session")
    assert status == 400 and body["error"]["code"] == "no_session"
    await _sign_in(harness, code=await _code(harness))
    status, _ = await harness.request("DELETE", "/auth/session", token=None,
                                      headers={"Origin": "http://evil.example"})
    assert status == 403
    assert (await harness.get("/devices", token=None))[0] == 200


async def test_revoking_the_token_ends_its_sessions(hub_factory):
    harness = await _hub(hub_factory)
    agent = await harness.token("tablet", maturity="SUPERVISED")
    _, body, _ = await _sign_in(harness, token=agent)
    assert (await harness.get("/devices", token=None))[0] == 200
    assert (await harness.request("DELETE", "/tokens/tablet"))[0] == 200
    assert (await harness.get("/devices", token=None))[0] == 401
    await harness.hub.sessions.stop()  # the revocation is written in the background
    rows = await harness.hub.storage.fetchall("SELECT revoked_at FROM sessions WHERE id = ?",
                                              (body["session"]["id"],))
    assert rows[0]["revoked_at"] is not None


async def test_sessions_survive_a_restart_but_not_idleness(hub_factory, tmp_path):
    data = tmp_path / "persist"
    clock = ManualClock()
    harness = await hub_factory(CONFIG, only=["demo"], clock=clock, data_dir=data)
    _, _, cookie = await _sign_in(harness, code=await _code(harness))
    secret = cookie["hub_session"].value
    await harness.client.close()  # stops the hub
    second = await hub_factory(CONFIG, only=["demo"], clock=clock, data_dir=data)
    headers = {"Cookie": f"hub_session={secret}"}
    async with second.client.get("/devices", headers=headers) as resp:
        assert resp.status == 200
    clock.set_wall_time(clock.time() + sessions_module.SESSION_IDLE - 10)
    async with second.client.get("/devices", headers=headers) as resp:
        assert resp.status == 200  # used: the idle period starts again
    clock.set_wall_time(clock.time() + sessions_module.SESSION_IDLE)
    async with second.client.get("/devices", headers=headers) as resp:
        assert resp.status == 401


async def test_sessions_listed_and_revoked_by_the_owner_only(hub_factory):
    harness = await _hub(hub_factory)
    intern = await harness.token("kid", maturity="INTERN")
    await _sign_in(harness, token=intern)
    status, body = await harness.get("/auth/sessions")
    assert status == 200
    (entry,) = body["sessions"]
    assert entry["principal"]["name"] == "kid" and entry["current"] is False
    assert "secret" not in json.dumps(body) and intern not in json.dumps(body)
    # The intern may not list sessions nor end someone else's; a missing one looks the same.
    assert (await harness.get("/auth/sessions", token=intern))[0] == 403
    other = await harness.token("other", maturity="AUTONOMOUS")
    for target in (entry["id"], "nope"):
        assert (await harness.request("DELETE", f"/auth/sessions/{target}", token=other))[0] \
            == 403
    # It may end its own (through its cookie), the owner any.
    status, body = await harness.request("DELETE", f"/auth/sessions/{entry['id']}")
    assert status == 200 and body["revoked"]["id"] == entry["id"]
    assert (await harness.request("DELETE", f"/auth/sessions/{entry['id']}"))[0] == 404
    assert (await harness.get("/devices", token=None))[0] == 401


async def test_codes_are_per_principal_and_bounded(hub_factory):
    harness = await _hub(hub_factory)
    intern = await harness.token("wall", maturity="INTERN")
    for _ in range(sessions_module.MAX_CODES_PER_PRINCIPAL):
        await _code(harness, token=intern)
    status, body = await harness.request("POST", "/auth/codes", token=intern)
    assert status == 429 and body["error"]["retry_after"] == 60
    # Another principal's flood does not touch the owner.
    code = await _code(harness)
    status, body, _ = await _sign_in(harness, code=code)
    assert status == 201 and body["principal"]["kind"] == "owner"
    # A signed-in browser mints a code for another device, as itself.
    status, body = await harness.request("POST", "/auth/codes", token=None,
                                         headers=_origin(harness))
    assert status == 201 and body["principal"]["name"] == "owner"
    # No Origin at all: not a browser page, so no cross-site risk.
    assert (await harness.request("POST", "/auth/codes", token=None))[0] == 201
    assert (await harness.request("POST", "/auth/codes", token=None,
                                  headers={"Origin": "http://evil.example"}))[0] == 403


async def test_hub_dashboard_prints_a_working_link(hub_factory, capsys):
    harness = await _hub(hub_factory)
    intern = await harness.token("viewer", maturity="INTERN")
    for token, name in ((harness.owner_token, "owner"), (intern, "viewer")):
        code = await asyncio.to_thread(
            cli_main, ["dashboard", "--url", harness.url, "--token", token])
        assert code == 0
        out, err = capsys.readouterr()
        link = out.strip()
        assert link.startswith(f"{harness.url}/#code=") and "60 seconds" in err
        status, body, _ = await _sign_in(harness, code=link.split("#code=")[1])
        assert status == 201 and body["principal"]["name"] == name
    code = await asyncio.to_thread(cli_main, ["dashboard", "--url", harness.url, "--token", "x"])
    assert code == 1 and "401" in capsys.readouterr().err


async def test_audit_verify_and_filters(hub_factory):
    harness = await _hub(hub_factory)
    await harness.act("demo.player_1", "play")
    await harness.act("demo.player_1", "volume_set", {"volume": 500})  # invalid
    status, body = await harness.get("/audit/verify")
    assert status == 200 and body["ok"] and body["problems"] == [] and body["records"] >= 3
    assert len(body["head"]) == 64
    intern = await harness.token("peek", maturity="INTERN")
    status, body = await harness.get("/audit/verify", token=intern)
    assert status == 403 and body["error"]["required"] == "OWNER"

    invalid = await _records(harness, decision="invalid")
    assert [r["action"] for r in invalid] == ["volume_set"]
    newest = (await _records(harness))[0]["seq"]
    await harness.act("demo.player_1", "pause")
    after = await _records(harness, after=newest)
    assert [r["action"] for r in after] == ["pause", "pause"]
    assert all(r["seq"] > newest for r in after)
    assert await _records(harness, until=0) == []
    for bad in ({"decision": "maybe"}, {"outcome": "fine"}, {"after": -1}, {"until": "soon"}):
        status, body = await harness.get("/audit", params=bad)
        assert status == 400, bad

    # Tampering shows in the answer.
    await harness.hub.audit.stop()
    db = sqlite3.connect(harness.hub.storage.path)
    db.execute("UPDATE audit SET reason = 'nothing to see' WHERE seq = 2")
    db.commit()
    db.close()
    await harness.hub.audit.start()
    status, body = await harness.get("/audit/verify")
    assert status == 200 and not body["ok"] and body["problem_count"] == 1
    assert "record 2" in body["problems"][0]


async def test_a_principal_keeps_at_most_its_limit_of_sessions(hub_factory, monkeypatch):
    monkeypatch.setattr(sessions_module, "SESSIONS_PER_PRINCIPAL", 2)
    harness = await _hub(hub_factory)
    ids = []
    for _ in range(3):
        await harness.clock.advance(1)
        harness.client.session.cookie_jar.clear()  # three browsers, not one signing in again
        _, body, _ = await _sign_in(harness, code=await _code(harness))
        ids.append(body["session"]["id"])
    listed = [s["id"] for s in (await harness.get("/auth/sessions"))[1]["sessions"]]
    assert listed == ids[1:]  # the least recently used one ended, and that is recorded
    ended = [r for r in await _records(harness) if r["action"] == "revoke_session"]
    assert {r["device"] for r in ended} == {ids[0]}


async def test_signing_in_again_in_the_same_browser_ends_its_old_session(hub_factory):
    harness = await _hub(hub_factory)
    _, first, _ = await _sign_in(harness, code=await _code(harness))
    _, second, _ = await _sign_in(harness, code=await _code(harness))
    listed = [s["id"] for s in (await harness.get("/auth/sessions"))[1]["sessions"]]
    assert listed == [second["session"]["id"]] != [first["session"]["id"]]
