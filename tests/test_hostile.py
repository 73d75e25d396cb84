"""The action path under hostile input (issue 8): what a low-privilege token or a broken client
sends fails only its own request, is refused with a clear error and the right status, and
never costs anyone else an answer or the audit log a record."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3

import aiohttp
import pytest

from hub.audit import MAX_PARAMS_BYTES
from hub.cli import main as hub_cli
from hub.plugin import Device, PluginInfo, hookimpl, standard_actions
from hub.testing import ManualClock

DEMO = {"plugins": {"demo": {"players": 3}}}
HOOK = "door-bell-0123456789abcdefgh"
RECEIVE = 5.0  # real seconds; only reached when a test is about to fail


async def _ws(harness, token: str):
    ws = await harness.client.ws_connect("/ws")
    assert (await ws.receive_json(timeout=RECEIVE))["type"] == "auth_required"
    await ws.send_json({"type": "auth", "access_token": token})
    assert (await ws.receive_json(timeout=RECEIVE))["type"] == "auth_ok"
    return ws


async def _result(ws, msg_id):
    while True:
        msg = await ws.receive(timeout=RECEIVE)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if data.get("type") == "result" and data.get("id") == msg_id:
            return data


async def _still_open(ws, msg_id: int) -> None:
    await ws.send_json({"id": msg_id, "type": "ping"})
    assert (await _result(ws, msg_id))["result"] == "pong"


def _records(harness) -> list[dict]:
    db = sqlite3.connect(harness.hub.storage.path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM audit ORDER BY seq")]
    finally:
        db.close()


def _unanswered_decisions(records: list[dict]) -> list[str]:
    """Correlation ids of allowed actions with no outcome record."""
    allowed = {r["correlation_id"] for r in records if r["decision"] == "allow"}
    done = {r["correlation_id"] for r in records if r["record"] == "outcome"}
    return sorted(allowed - done)


# -- 1: one poisoned record cannot sink other people's requests -------------------------------


async def test_a_lone_surrogate_fails_only_its_own_request(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    student = await harness.token("student", maturity="STUDENT")
    ws = await _ws(harness, student)

    async def owner(i: int) -> int:
        status, _ = await harness.act(f"demo.player_{i % 3 + 1}", "volume_set",
                                      {"volume": i % 100})
        return status

    async def attacker() -> list[dict]:
        answers = []
        for i in range(1, 21):
            # Python's JSON parser accepts "\ud800"; the hub must not.
            await ws.send_str('{"id":' + str(i) + ',"type":"act","device":"\\ud800",'
                              '"action":"play"}')
            answers.append(await _result(ws, None))  # not parsed, so not answered by id
        return answers

    statuses, answers = await asyncio.gather(
        asyncio.gather(*(owner(i) for i in range(64))), attacker())
    assert set(statuses) == {200}
    assert {a["error"]["code"] for a in answers} == {"invalid_json"}
    await _still_open(ws, 100)
    assert _unanswered_decisions(_records(harness)) == []
    assert (await harness.hub.audit.verify()).ok


async def test_the_audit_writer_never_fails_a_batch_for_one_record(hub_factory):
    """Independently of the boundary: a record that cannot be encoded as it is (a lone
    surrogate, parameters nested past every encoder's limit) is escaped or summarised
    before it joins a batch, and the records written beside it are committed."""
    harness = await hub_factory(DEMO, only=["demo"])
    audit = harness.hub.audit
    deep: list = []
    for _ in range(400):
        deep = [deep]
    writes = [audit.write(record="decision", correlation_id=f"c{i}", principal="p",
                          device="demo.player_1", action="play", params={"i": i})
              for i in range(20)]
    writes.insert(7, audit.write(record="decision", correlation_id="bad", principal="p",
                                 device="demo.\ud800", action="play\udcff",
                                 params={"deep": deep}, reason="x\ud800"))
    seqs = await asyncio.gather(*writes)
    assert len(set(seqs)) == 21
    bad = next(r for r in _records(harness) if r["correlation_id"] == "bad")
    assert bad["device"] == "demo.\\ud800" and bad["action"] == "play\\udcff"
    assert "_unrecordable" in json.loads(bad["params"])
    assert (await audit.verify()).ok


async def test_an_in_process_caller_cannot_slip_bad_text_past_the_pipeline(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    owner = next(iter(harness.hub.tokens._by_hash.values()))
    from hub.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as err:
        await harness.hub.pipeline.execute(owner, "demo.player_1", "select_source",
                                           {"source": "bad\ud800"}, source="automation")
    assert err.value.code == "invalid_params"
    with pytest.raises(InvalidRequest):
        await harness.hub.pipeline.execute(owner, "demo.player_1\n", "play")
    assert [r["decision"] for r in _records(harness)[-2:]] == ["invalid", "invalid"]


# -- 3: a non-UTF-8 byte in the Authorization header ----------------------------------------


async def _raw(harness, request: bytes) -> tuple[int, dict[str, str], bytes]:
    port = harness.client.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), RECEIVE)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


async def test_a_non_utf8_authorization_header_is_401_with_one_log_line(hub_factory, caplog):
    harness = await hub_factory(DEMO, only=["demo"])
    caplog.set_level(logging.INFO, logger="hub")
    for _ in range(20):
        status, headers, body = await _raw(
            harness, b"GET /devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hub_\xff\xfe"
                     b"\r\nConnection: close\r\n\r\n")
        assert status == 401, body
        assert headers["content-type"].startswith("application/json")
        assert json.loads(body)["error"]["code"] == "unauthenticated"
    lines = [r for r in caplog.records if r.name == "hub.server"]
    assert len(lines) == 1 and "malformed Authorization" in lines[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


async def test_a_surrogate_access_token_over_ws_is_auth_invalid(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    for token in ('"\\udcff"', '"hub_\\u00e9\\u00e9"'):
        ws = await harness.client.ws_connect("/ws")
        await ws.receive_json(timeout=RECEIVE)
        await ws.send_str(f'{{"type":"auth","access_token":{token}}}')
        answer = await ws.receive_json(timeout=RECEIVE)
        assert answer["type"] == "auth_invalid", answer
        closing = await ws.receive(timeout=RECEIVE)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1008
        await ws.close()


# -- 4 and 5: deep nesting, odd command types -----------------------------------------------


def _nested(depth: int, kind: str = "array") -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("params", [_nested(254), _nested(500, "object"), _nested(40),
                                    _nested(40, "object")])
async def test_deeply_nested_params_are_400_and_audited(hub_factory, params):
    harness = await hub_factory(DEMO, only=["demo"])
    body = f'{{"device":"demo.player_1","action":"play","params":{{"x":{params}}}}}'
    status, answer = await harness.request("POST", "/actions", data=body,
                                           headers={"Content-Type": "application/json"})
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_json"
    assert "deeper than 32" in answer["error"]["message"]
    refused = _records(harness)[-1]
    assert (refused["decision"], refused["principal"]) == ("invalid", "owner")
    status, _ = await harness.get("/health", token=None)
    assert status == 200


async def test_params_nested_past_the_limit_from_a_python_caller(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    owner = next(iter(harness.hub.tokens._by_hash.values()))
    deep: dict = {}
    for _ in range(5000):  # past Python's recursion limit: nothing may walk it recursively
        deep = {"a": deep}
    from hub.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as err:
        await harness.hub.pipeline.execute(owner, "demo.player_1", "play", {"x": deep})
    assert err.value.code == "invalid_params"
    assert _records(harness)[-1]["decision"] == "invalid"


async def test_a_30000_deep_webhook_body_is_400(hub_factory):
    harness = await hub_factory({**DEMO, "automations": [{
        "id": "door", "triggers": [{"trigger": "webhook", "webhook_id": HOOK}],
        "actions": [{"action": "play", "device": "demo.player_1"}]}]}, only=["demo"])
    status, body = await harness.request(
        "POST", f"/webhooks/{HOOK}", token=None, data=_nested(30000),
        headers={"Content-Type": "application/json"})
    assert status == 400 and body["error"]["code"] == "invalid_json", body


async def test_ws_odd_frames_answer_errors_and_keep_the_socket(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    ws = await _ws(harness, harness.owner_token)
    await ws.send_str('{"id":11,"type":{"a":1}}')
    answer = await _result(ws, 11)
    assert answer["error"]["code"] == "unknown_command"
    await ws.send_str(_nested(30000))
    answer = await _result(ws, None)
    assert answer["error"]["code"] == "invalid_json"
    await ws.send_str('{"id":12,"type":"act","device":"demo.player_1","action":"play",'
                      f'"params":{{"x":{_nested(40)}}}}}')
    assert (await _result(ws, None))["error"]["code"] == "invalid_json"
    await _still_open(ws, 13)


# -- 6: hub audit tail cannot be forged -------------------------------------------------------


async def test_audit_tail_escapes_control_characters(hub_factory, capsys):
    harness = await hub_factory(DEMO, only=["demo"])
    forged = ("demo.x\n      99 2031-01-01T00:00:00 decision owner          play"
              "           demo.player_1                allow\x1b[2K\x1b]0;pwned\x07\u202e")
    status, _body = await harness.act(forged, "play")
    assert status == 400
    await harness.hub.audit.stop()
    data = str(harness.hub.data_dir)
    assert await asyncio.to_thread(hub_cli, ["audit", "tail", "-n", "1", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out and "\x07" not in out
    assert "\u202e" not in out and "\\n" in out and "\\x1b" in out
    assert await asyncio.to_thread(
        hub_cli, ["audit", "tail", "-n", "1", "--json", "--data-dir", data]) == 0
    assert json.loads(capsys.readouterr().out)["device"] == forged  # JSON stays exact


# -- 8: a low-privilege token cannot fill the disk -------------------------------------------


async def test_big_params_are_kept_as_digest_and_size(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    student = await harness.token("student", maturity="STUDENT")
    big = {"media_id": "x" * 60_000}
    status, _ = await harness.act("demo.player_1", "play_media", big, token=student)
    assert status == 400  # too long a media_id: invalid, and recorded as such
    status, _ = await harness.act("demo.player_1", "pause", {"note": "y" * 60_000},
                                  token=student)
    assert status == 400
    for refused in _records(harness)[-2:]:
        assert refused["decision"] == "invalid"
        assert len(refused["params"]) < MAX_PARAMS_BYTES
        cut = json.loads(refused["params"])["_truncated"]
        assert cut["bytes"] > 60_000 and len(cut["sha256"]) == 64
        assert cut["head"].startswith('{"')


async def test_refused_requests_are_rate_limited_per_principal(hub_factory):
    clock = ManualClock()
    harness = await hub_factory({**DEMO, "audit": {"refusals": {"limit": 5, "window": 10}}},
                                only=["demo"], clock=clock)
    student = await harness.token("student", maturity="STUDENT")
    other = await harness.token("other", maturity="STUDENT")
    before = len(_records(harness))
    answers = [await harness.act("demo.player_1", "pause", token=student) for _ in range(12)]
    assert [s for s, _ in answers] == [403] * 5 + [429] * 7
    _status, body = answers[-1]
    assert body["error"]["code"] == "rate_limited" and 0 < body["error"]["retry_after"] <= 10
    async with harness.client.post("/actions", json={"device": "demo.player_1",
                                                     "action": "pause"},
                                   headers=harness.auth(student)) as resp:
        assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 10
    # Allowed requests and other principals are not limited.
    assert (await harness.act("demo.player_1", "volume_get", token=student))[0] == 200
    assert (await harness.act("demo.player_1", "pause", token=other))[0] == 403
    new = _records(harness)[before:]
    assert [r["decision"] for r in new if r["principal"] == "student"
            and r["record"] == "decision"] == ["deny"] * 5 + ["rate_limited", "allow"]
    await clock.advance(11)
    assert (await harness.act("demo.player_1", "pause", token=student))[0] == 403
    closed = [r for r in _records(harness) if r["record"] == "outcome"
              and (r["error"] or "").startswith("rate_limited")]
    assert len(closed) == 1 and "8 refused requests answered 429" in closed[0]["error"]
    assert (await harness.hub.audit.verify()).ok


# -- 9: smaller ones ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, "50", 50.5, None, [50]])
async def test_integer_params_refuse_what_is_not_an_integer(hub_factory, value):
    harness = await hub_factory(DEMO, only=["demo"])
    status, body = await harness.act("demo.player_1", "volume_set", {"volume": value})
    assert status == 400 and body["error"]["code"] == "invalid_params", body
    status, body = await harness.act("demo.player_1", "volume_step", {"step": value})
    assert status == 400 and body["error"]["code"] == "invalid_params", body


async def test_integer_params_accept_integers_and_integral_numbers(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    for value in (50, 50.0):
        status, body = await harness.act("demo.player_1", "volume_set", {"volume": value})
        assert status == 200 and body["state"]["attributes"]["volume"] == 50
    status, body = await harness.act("demo.player_1", "seek", {"position": True})
    assert status == 400


@pytest.mark.parametrize("request_bytes", [
    b"GET /devices HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    b"GET /devices HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    b"POST /actions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /actions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
])
async def test_aiohttp_parser_errors_answer_the_json_error_shape(hub_factory, caplog,
                                                                 request_bytes):
    harness = await hub_factory(DEMO, only=["demo"])
    caplog.set_level(logging.INFO)
    status, headers, body = await _raw(harness, request_bytes)
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error["code"] in ("invalid_request", "payload_too_large", "headers_too_large")
    assert isinstance(error["message"], str)
    assert not any(r.exc_info for r in caplog.records)


async def test_a_client_that_disconnects_mid_body_logs_one_line(hub_process):
    """As `hub run` serves (aiohttp does not cancel the handler): the body read fails with a
    connection error, which is one log line, not a traceback."""
    hub = hub_process(players=1)
    await hub.start()
    for _ in range(3):
        _reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        writer.write(b"POST /actions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + hub.owner_token.encode() +
                     b"\r\nContent-Length: 1000\r\n\r\n{\"device\": ")
        await writer.drain()
        writer.close()
    async with aiohttp.ClientSession() as session:
        async with session.get(hub.url + "/health") as resp:
            assert resp.status == 200
    out = hub.stop()
    assert "Traceback" not in out and "unhandled error" not in out
    assert out.count("disconnected during POST /actions") == 1, out


# -- 11: the answer's state and the events' correlation id ----------------------------------


class Racer:
    """act() sets the state, and something else changes it right after (as an event from a
    device's own thread would): the answer must show what the action did."""

    @hookimpl
    def describe(self):
        return PluginInfo(actions=standard_actions("play"))

    @hookimpl
    def discover(self, ctx):
        return [Device(id="racer.one", name="One", actions=frozenset({"play"}))]

    @hookimpl
    async def act(self, ctx, device, action, params):
        ctx.update_device(device.id, state="playing")
        asyncio.get_running_loop().call_soon(
            lambda: ctx.update_device(device.id, state="paused"))


async def test_the_answer_shows_the_state_the_action_left(hub_factory):
    harness = await hub_factory({"plugins": {"racer": {}}}, only=[],
                                extra_plugins={"racer": Racer()})
    status, body = await harness.act("racer.one", "play")
    assert status == 200 and body["state"]["state"] == "playing"


async def test_state_changed_events_carry_the_correlation_id(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"], clock=ManualClock())
    ws = await _ws(harness, harness.owner_token)
    await ws.send_json({"id": 1, "type": "subscribe", "event_types": ["state_changed"]})
    await _result(ws, 1)
    status, body = await harness.act("demo.player_1", "volume_set", {"volume": 12})
    assert status == 200
    event = json.loads((await ws.receive(timeout=RECEIVE)).data)["event"]
    assert event["data"]["correlation_id"] == body["correlation_id"]


# -- 7: hub run says which plugin it could not configure ------------------------------------


async def test_hub_run_prints_each_plugin_config_error_with_file_and_line(hub_process):
    hub = hub_process(players=1)
    hub.config.write_text(hub.config.read_text().replace("players: 1", "players: 0"))
    await hub.start()  # it still serves (health answers), with no plugin
    out = hub.stop()
    line = next(x for x in out.splitlines() if x.startswith("plugin demo:"))
    assert f"{hub.config}:" in line and "plugins.demo.players" in line, out
    assert "Plugins: none" in out


def test_the_cli_refuses_parameters_that_are_not_unicode(capsys):
    # A non-UTF-8 byte on the command line reaches Python as a lone surrogate.
    code = hub_cli(["act", "demo.player_1", "select_source", "source=\udcff",
                    "--url", "http://127.0.0.1:9", "--token", "hub_x"])
    assert code == 1
    err = capsys.readouterr().err
    assert "not valid Unicode" in err and "Traceback" not in err
    code = hub_cli(["act", "demo.player_1\x1b[2K", "play", "--url", "http://127.0.0.1:9",
                    "--token", "hub_x"])
    assert code == 1 and "control characters" in capsys.readouterr().err
