"""Running and debugging automations: traces, manual trigger, enable/disable (kept across
restarts) over REST, the WebSocket and the CLI; the audit links each device action to its run."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from hub.cli import main
from hub.testing import ManualClock

WAIT = 5.0


def gated(**extra) -> dict:
    """Pauses player_2 when player_1 plays, if player_3 is idle; records a variable."""
    return {
        "id": "gated", "alias": "Gated pause",
        "triggers": [{"trigger": "state", "entity_id": "demo.player_1", "to": "playing",
                      "id": "p1"}],
        "conditions": [{"condition": "state", "entity_id": "demo.player_3", "state": "idle"}],
        "actions": [
            {"variables": {"level": "{{ level | default(20) }}"}},
            {"action": "volume_set", "device": "demo.player_2",
             "params": {"volume": "{{ level }}"}},
            {"action": "pause", "device": "demo.player_2"}],
        **extra}


async def ws_call(harness, type_: str, token: str | None = None, **fields) -> dict:
    async with harness.client.ws_connect("/ws") as ws:
        await ws.receive_json(timeout=WAIT)
        await ws.send_json({"type": "auth", "access_token": token or harness.owner_token})
        assert (await ws.receive_json(timeout=WAIT))["type"] == "auth_ok"
        await ws.send_json({"id": 1, "type": type_, **fields})
        while True:
            message = await ws.receive_json(timeout=WAIT)
            if message.get("id") == 1 and message["type"] == "result":
                return message


async def test_a_trace_records_trigger_conditions_steps_variables_and_timings(kit):
    clock = ManualClock()
    harness = await kit.hub([gated(actions=[
        {"variables": {"level": 15}},
        {"delay": 2},
        {"action": "volume_set", "device": "demo.player_2", "params": {"volume": "{{ level }}"}},
        {"action": "fly", "device": "demo.player_2"}])], clock=clock)
    await harness.act("demo.player_1", "play")
    await kit.until(lambda: kit.auto(harness, "gated")._runs)
    status, body = await harness.get("/automations/gated/traces")
    assert status == 200 and body["traces"][0]["state"] == "running"
    await clock.advance(2)
    await kit.settled(harness, "gated", 1)
    status, body = await harness.get("/automations/gated/traces")
    [trace] = body["traces"]
    assert trace["trigger"]["id"] == "p1" and trace["trigger"]["to_state"]["state"] == "playing"
    assert trace["conditions"] == [{"path": "condition/0", "seq": 1, "result": True,
                                    "at_ms": 0.0, "devices": {"demo.player_3": "idle"}}]
    steps = {s["path"]: s for s in trace["steps"]}
    assert list(steps) == ["action/0", "action/1", "action/2", "action/3"]
    assert [s["seq"] for s in trace["steps"]] == [2, 3, 4, 5]
    assert steps["action/0"]["changed_variables"] == {"level": 15}
    assert steps["action/1"]["duration_ms"] == 2000.0 and steps["action/2"]["start_ms"] == 2000.0
    assert steps["action/2"]["result"]["targets"][0]["outcome"] == "ok"
    assert steps["action/3"]["error"]["code"] == "unsupported_action"
    assert trace["result"] == "failed" and trace["error"]["step"] == "action/3"
    assert trace["variables"]["level"] == 15 and trace["duration_ms"] == 2000.0
    status, one = await harness.get(f"/automations/gated/traces/{trace['run_id']}")
    assert status == 200 and one == trace

    # the audit links each device action to the run and the step
    status, body = await harness.get("/audit?principal=automation:gated")
    contexts = {(r["action"], r["record"]): r["context"] for r in body["records"]}
    assert contexts[("volume_set", "outcome")] == {
        "automation": "gated", "run": trace["run_id"], "step": "action/2"}
    assert contexts[("fly", "decision")]["step"] == "action/3"


async def test_traces_keep_the_last_n_runs(kit):
    harness = await kit.hub([gated(trace={"stored_traces": 2}, mode="queued")])
    for _ in range(3):
        await harness.act("demo.player_1", "play")
        await harness.act("demo.player_1", "pause")
    await kit.settled(harness, "gated", 3)
    status, body = await harness.get("/automations/gated/traces")
    assert len(body["traces"]) == 2
    assert body["traces"][0]["start"] >= body["traces"][1]["start"]
    status, body = await harness.get("/automations/gated/traces/nope")
    assert status == 404 and body["error"]["code"] == "unknown_run"
    status, body = await harness.get("/automations/nothing/traces")
    assert status == 404 and body["error"]["code"] == "unknown_automation"


async def test_traces_trigger_and_switches_are_the_owners_and_audited(kit):
    harness = await kit.hub([gated()])
    agent = await harness.token("helper", maturity="AUTONOMOUS")
    for method, path in (("GET", "/automations/gated/traces"),
                         ("POST", "/automations/gated/trigger"),
                         ("POST", "/automations/gated/disable")):
        status, body = await harness.request(method, path, token=agent)
        assert status == 403 and body["error"]["required"] == "OWNER", (path, body)
    status, body = await harness.get("/automations/gated", token=agent)
    assert status == 200 and body["enabled"] is True  # reading the status stays open
    status, body = await harness.get("/audit?principal=helper")
    assert {(r["action"], r["decision"]) for r in body["records"]} == {
        ("read_automation_traces", "deny"), ("trigger_automation", "deny"),
        ("disable_automation", "deny")}


async def test_manual_trigger_with_variables_and_skip_condition(kit):
    harness = await kit.hub([gated()])
    await harness.act("demo.player_3", "play")  # the condition does not hold
    status, body = await harness.request("POST", "/automations/gated/trigger",
                                         json={"variables": {"level": 7}})
    assert status == 200 and body["status"] == "started"  # conditions skipped by default
    await kit.settled(harness, "gated", 1)
    assert kit.attr(harness, "demo.player_2", "volume") == 7
    trace = kit.last_trace(harness, "gated")
    assert trace["run_id"] == body["run_id"] and trace["trigger"]["platform"] is None
    status, body = await harness.request("POST", "/automations/gated/trigger",
                                         json={"skip_condition": False})
    assert status == 200 and body["status"] == "conditions_not_met"
    for bad in ({"variables": {"no such": 1}}, {"variables": {"trigger": 1}},
                {"variables": []}, {"skip_condition": "yes"}, {"run": 1}, []):
        status, body = await harness.request("POST", "/automations/gated/trigger", json=bad)
        assert status == 400, bad
    status, body = await harness.request("POST", "/automations/gated/trigger",
                                         data=b"{", headers={"Content-Type": "application/json"})
    assert status == 400
    status, body = await harness.get("/audit?principal=owner&limit=200")
    triggers = [r for r in body["records"] if r["action"] == "trigger_automation"]
    assert {(r["record"], r["decision"] or r["outcome"]) for r in triggers} == {
        ("decision", "allow"), ("outcome", "ok")}


async def test_manual_trigger_refused_by_mode_or_when_disabled(kit):
    clock = ManualClock()
    harness = await kit.hub([gated(actions=[{"delay": 30}])], clock=clock)
    assert (await harness.request("POST", "/automations/gated/trigger"))[0] == 200
    status, body = await harness.request("POST", "/automations/gated/trigger")
    assert status == 409 and body["error"]["code"] == "max_exceeded"
    status, body = await harness.request("POST", "/automations/gated/disable")
    assert status == 200 and body["enabled"] is False and body["running"] == 0
    status, body = await harness.request("POST", "/automations/gated/trigger")
    assert status == 409 and body["error"]["code"] == "automation_disabled"
    status, body = await harness.request("POST", "/automations/nothing/trigger")
    assert status == 404


async def test_enable_disable_is_kept_across_restarts_until_the_config_changes(kit, tmp_path):
    data = tmp_path / "kept"
    first = await kit.hub([gated(), gated(id="other")], data_dir=data)
    status, body = await first.request("POST", "/automations/gated/disable")
    assert status == 200 and body["enabled"] is False
    await first.act("demo.player_1", "play")
    await asyncio.sleep(0.05)
    assert kit.auto(first, "gated").runs == 0  # off: its trigger is not watched
    await first.client.close()  # stops that hub

    second = await kit.hub([gated(), gated(id="other")], data_dir=data)
    assert kit.auto(second, "gated").enabled is False
    assert kit.auto(second, "other").enabled is True
    status, body = await second.request("POST", "/automations/gated/enable")
    assert body["enabled"] is True
    await second.client.close()

    third = await kit.hub([gated(enabled=False)], data_dir=data)
    assert kit.auto(third, "gated").enabled is False  # the config changed: it wins
    await third.client.close()
    fourth = await kit.hub([gated(initial_state=True)], data_dir=data)
    assert kit.auto(fourth, "gated").enabled is True  # initial_state always wins


async def test_the_websocket_commands(kit):
    harness = await kit.hub([gated()])
    answer = await ws_call(harness, "automations/list")
    assert answer["success"] and [a["id"] for a in answer["result"]] == ["gated"]
    answer = await ws_call(harness, "automations/trigger", automation_id="gated",
                           variables={"level": 9})
    assert answer["success"] and answer["result"]["status"] == "started"
    await kit.settled(harness, "gated", 1)
    answer = await ws_call(harness, "automations/traces", automation_id="gated")
    assert answer["result"]["traces"][0]["variables"]["level"] == 9
    run_id = answer["result"]["traces"][0]["run_id"]
    answer = await ws_call(harness, "automations/traces", automation_id="gated", run_id=run_id)
    assert answer["result"]["run_id"] == run_id
    answer = await ws_call(harness, "automations/disable", automation_id="gated")
    assert answer["result"]["enabled"] is False
    answer = await ws_call(harness, "automations/get", automation_id="gated")
    assert answer["result"]["enabled"] is False
    answer = await ws_call(harness, "automations/enable", automation_id="nothing")
    assert not answer["success"] and answer["error"]["code"] == "unknown_automation"
    answer = await ws_call(harness, "automations/traces")
    assert answer["error"]["code"] == "invalid_request"
    agent = await harness.token("bot", maturity="AUTONOMOUS")
    answer = await ws_call(harness, "automations/trigger", token=agent, automation_id="gated")
    assert answer["error"]["code"] == "forbidden"
    _, body = await harness.get("/audit?principal=owner&limit=50")
    assert {r["source"] for r in body["records"] if r["action"] == "disable_automation"} == {
        "ws"}


async def test_the_cli(kit, capsys):
    harness = await kit.hub([gated()])
    client = ["--url", harness.url, "--token", harness.owner_token]

    async def cli(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, [*argv, *client])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await cli("automations", "trigger", "gated", "level=12")
    assert code == 0 and "started" in out
    await kit.settled(harness, "gated", 1)
    code, out, _ = await cli("automations", "list")
    assert code == 0 and out.split()[:3] == ["gated", "on", "single"] and "last=ok" in out
    code, out, _ = await cli("automations", "trace", "gated")
    assert code == 0
    assert "trigger: manual trigger" in out and "action/1" in out and "device" in out
    code, out, _ = await cli("automations", "trace", "gated", "--json")
    assert json.loads(out)[0]["variables"]["level"] == 12
    code, out, _ = await cli("automations", "disable", "gated")
    assert (code, out.strip()) == (0, "gated: disabled")
    code, out, _ = await cli("automations", "enable", "gated")
    assert (code, out.strip()) == (0, "gated: enabled")
    code, _, err = await cli("automations", "trigger", "nothing")
    assert code == 1 and "unknown_automation" in err


async def test_a_webhook_body_reaches_only_the_run(kit):
    harness = await kit.hub([{
        "id": "hook", "triggers": [{"trigger": "webhook", "webhook_id": kit.webhook}],
        "actions": [{"variables": {"who": "{{ trigger.json.who }}"}}]}])
    async with aiohttp.ClientSession() as session, session.post(
            f"{harness.url}/webhooks/{kit.webhook}", json={"who": "courier"}) as resp:
        assert resp.status == 200
    await kit.settled(harness, "hook", 1)
    status = json.dumps(kit.auto(harness, "hook").status())
    assert kit.webhook not in status and "courier" not in status
    trace = json.dumps(kit.traces(harness, "hook"))
    assert kit.webhook not in trace and "courier" in trace  # the owner's trace has the body


async def test_secret_looking_variables_are_redacted_in_traces(kit, hooked):
    harness = await kit.hub([hooked([{"variables": {"api_key": "{{ trigger.json.k }}"}}],
                                    variables={"password": "hunter2"})])
    await kit.fire(harness, json={"k": "sk-123", "token": "t-456"})
    await kit.settled(harness, "hooked", 1)
    [trace] = kit.traces(harness, "hooked")
    assert "hunter2" not in json.dumps(trace) and "t-456" not in json.dumps(trace)
    assert trace["variables"]["api_key"] == "***" and trace["variables"]["password"] == "***"


async def test_hostile_webhook_bodies_fail_only_their_request(kit):
    harness = await kit.hub([{
        "id": "hook", "mode": "queued",
        "triggers": [{"trigger": "webhook", "webhook_id": kit.webhook}],
        "actions": [{"variables": {"q": "{{ trigger.query }}"}}]}])
    url = f"/webhooks/{kit.webhook}"
    json_type = {"Content-Type": "application/json"}
    for body in (b'{"x": "\\ud800"}', b"[" * 5000 + b"]" * 5000, b"\xff\xfe"):
        status, answer = await harness.request("POST", url, token=None, data=body,
                                               headers=json_type)
        assert status == 400 and answer["error"]["code"] == "invalid_request", body[:20]
    status, _ = await harness.request("POST", url, token=None, data=b"x" * 70_000,
                                      headers=json_type)
    assert status == 413
    status, _ = await harness.request("POST", url + "?name=%ED%A0%80%FF", token=None)
    assert status == 200
    await kit.settled(harness, "hook", 1)
    status, body = await harness.get("/automations/hook/traces")
    assert status == 200 and body["traces"][0]["result"] == "ok"
