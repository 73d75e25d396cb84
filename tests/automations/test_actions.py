"""The action language of a run: targets, Home Assistant's media_player actions, delays, waits,
choose/if/repeat/parallel/sequence, variables and their scopes, stop, events, condition steps,
continue_on_error, and the bounds that keep a run from hogging the hub."""

from __future__ import annotations

import logging

from hub.automations import script
from hub.testing import ManualClock


def step_paths(trace: dict) -> list[str]:
    return [s["path"] for s in trace["steps"]]


async def test_several_targets_list_glob_and_template(kit, hooked):
    harness = await kit.hub([hooked([
        {"action": "volume_set", "device": ["demo.player_1", "demo.player_2"],
         "params": {"volume": 11}},
        {"action": "mute", "target": {"entity_id": "demo.player_[23]"},
         "data": {"muted": True}},
        {"variables": {"rooms": ["demo.player_4"]}},
        {"action": "play", "target": {"entity_id": "{{ rooms }}"}},
    ])], players=4)
    await kit.fire(harness)
    await kit.settled(harness, "hooked", 1)
    assert [kit.attr(harness, f"demo.player_{i}", "volume") for i in (1, 2, 3)] == [11, 11, 30]
    assert [kit.attr(harness, f"demo.player_{i}", "muted") for i in (1, 2, 3)] == [
        False, True, True]
    assert kit.state(harness, "demo.player_4") == "playing"
    trace = kit.last_trace(harness, "hooked")
    assert [t["device"] for t in trace["steps"][1]["result"]["targets"]] == [
        "demo.player_2", "demo.player_3"]


async def test_home_assistant_media_player_actions(kit, hooked):
    harness = await kit.hub([hooked([
        {"service": "media_player.volume_set", "entity_id": "demo.player_1",
         "data": {"volume_level": 0.35}},
        {"action": "media_player.media_play_pause", "target": {"entity_id": "demo.player_1"}},
        {"action": "media_player.play_media", "target": {"entity_id": "demo.player_2"},
         "data": {"media_content_id": "demo:track:4", "media_content_type": "music",
                  "enqueue": "play"}},
        {"action": "media_player.volume_up", "target": {"entity_id": "demo.player_2"}},
        {"action": "media_player.select_source", "target": {"entity_id": "all"},
         "data": {"source": "Radio"}},
        {"action": "media_player.media_play_pause", "target": {"entity_id": "demo.player_3"}},
    ])])
    await kit.fire(harness)
    await kit.settled(harness, "hooked", 1)
    assert kit.attr(harness, "demo.player_1", "volume") == 35
    assert kit.attr(harness, "demo.player_2", "volume") == 40
    assert {kit.attr(harness, f"demo.player_{i}", "source") for i in (1, 2, 3)} == {"Radio"}
    assert kit.state(harness, "demo.player_3") == "paused"  # playing the radio, then toggled
    records = (await harness.get("/audit?principal=automation:hooked&limit=100"))[1]["records"]
    assert {r["action"] for r in records} >= {"volume_set", "play", "play_media",
                                              "volume_step", "select_source", "pause"}


async def test_delay_and_wait_template_with_timeouts(kit, hooked):
    clock = ManualClock()
    harness = await kit.hub([hooked([
        {"delay": "{{ 2 * 5 }}"},
        {"wait_template": "{{ is_state('demo.player_2', 'playing') }}", "timeout": 30},
        {"variables": {"first": "{{ wait.completed }}"}},
        {"wait_template": "{{ is_state('demo.player_3', 'playing') }}", "timeout": "00:00:05",
         "continue_on_timeout": False},
        {"action": "play", "device": "demo.player_1"},
    ])], clock=clock)
    await kit.fire(harness)
    await clock.advance(9)
    assert kit.auto(harness, "hooked")._runs
    await clock.advance(1)  # the delay ends; waiting for player_2
    await clock.advance(10)
    await harness.act("demo.player_2", "play")
    await clock.advance(5)  # the second wait times out: the run stops there
    await kit.settled(harness, "hooked", 1)
    trace = kit.last_trace(harness, "hooked")
    assert trace["result"] == "stopped" and "timed out" in trace["stop_reason"]
    assert trace["variables"]["first"] is True
    assert trace["steps"][1]["result"]["wait"] == {"completed": True, "remaining": 20.0}
    assert kit.state(harness, "demo.player_1") == "idle"


async def test_wait_for_trigger_including_a_webhook(kit):
    clock = ManualClock()
    harness = await kit.hub([{
        "id": "door", "triggers": [{"trigger": "state", "entity_id": "demo.player_1",
                                    "to": "playing"}],
        "actions": [
            {"wait_for_trigger": [
                {"trigger": "state", "entity_id": "demo.player_2", "to": "playing"},
                {"trigger": "webhook", "webhook_id": kit.webhook}], "timeout": 60},
            {"if": "{{ wait.trigger is none }}",
             "then": [{"action": "stop", "device": "demo.player_1"}],
             "else": [{"action": "volume_set", "device": "demo.player_1",
                       "params": {"volume": "{{ 10 if wait.trigger.platform == 'webhook' "
                                            "else 20 }}"}}]}]}], clock=clock)
    status, _ = await harness.request("POST", f"/webhooks/{kit.webhook}", token=None)
    assert status == 404  # nobody waits for it yet
    await harness.act("demo.player_1", "play")
    await kit.until(lambda: kit.auto(harness, "door")._runs)
    await clock.advance(30)
    await kit.fire(harness, json={})
    await kit.settled(harness, "door", 1)
    assert kit.attr(harness, "demo.player_1", "volume") == 10
    await harness.act("demo.player_1", "pause")
    await harness.act("demo.player_1", "play")
    await clock.advance(60)  # nothing comes: timeout, wait.trigger is none
    await kit.settled(harness, "door", 2)
    assert kit.state(harness, "demo.player_1") == "idle"


async def test_choose_if_and_default(kit, hooked):
    harness = await kit.hub([hooked([
        {"choose": [
            {"conditions": "{{ trigger.json.n == 1 }}",
             "sequence": [{"variables": {"picked": "one"}}]},
            {"conditions": [{"condition": "template",
                             "value_template": "{{ trigger.json.n == 2 }}"}],
             "sequence": [{"variables": {"picked": "two"}}]}],
         "default": [{"variables": {"picked": "other"}}]},
        {"if": [{"condition": "state", "entity_id": "demo.player_1", "state": "idle"}],
         "then": [{"variables": {"idle": True}}], "else": [{"variables": {"idle": False}}]},
    ], mode="queued")])
    for n in (1, 2, 3):
        await kit.fire(harness, json={"n": n})
    await kit.settled(harness, "hooked", 3)
    traces = list(reversed(kit.traces(harness, "hooked")))
    assert [t["steps"][0]["result"]["choice"] for t in traces] == [0, 1, "default"]
    # variables set inside a block are local to it (they were not defined outside)
    assert ["picked" in t["variables"] for t in traces] == [False, False, False]
    assert traces[1]["conditions"][0]["path"] == "action/0/choose/0/conditions/0"
    assert "action/0/choose/1/sequence/0" in step_paths(traces[1])


async def test_variables_scopes_like_home_assistant(kit, hooked):
    harness = await kit.hub([hooked([
        {"variables": {"count": 0, "log": []}},
        {"repeat": {"count": 3, "sequence": [
            {"variables": {"count": "{{ count + repeat.index }}",
                           "log": "{{ log + [repeat.first ~ '/' ~ repeat.last] }}",
                           "inner": 1}}]}},
        {"parallel": [
            {"variables": {"count": 100}},
            {"sequence": [{"variables": {"branch": True}}]}]},
    ], variables={"base": "{{ 40 + 2 }}"})])
    await kit.fire(harness)
    await kit.settled(harness, "hooked", 1)
    variables = kit.last_trace(harness, "hooked")["variables"]
    assert variables["count"] == 6  # updated in the outer scope, untouched by the branch
    assert variables["log"] == ["True/False", "False/False", "False/True"]
    assert "inner" not in variables and "branch" not in variables
    assert variables["base"] == 42


async def test_repeat_while_until_for_each_and_its_bound(kit, hooked, monkeypatch):
    harness = await kit.hub([hooked([
        {"repeat": {"for_each": ["demo.player_1", "demo.player_2"], "sequence": [
            {"action": "volume_set", "device": "{{ repeat.item }}",
             "params": {"volume": "{{ 10 * repeat.index }}"}}]}},
        {"repeat": {"until": [{"condition": "numeric_state", "entity_id": "demo.player_3",
                               "attribute": "volume", "above": 55}],
                    "sequence": [{"action": "volume_step", "device": "demo.player_3",
                                  "params": {"step": 10}}]}},
        {"repeat": {"while": "{{ repeat.index <= 2 }}", "sequence": [{"variables": {}}]}},
        {"repeat": {"while": "{{ true }}", "sequence": [{"variables": {"x": 1}}]}},
    ])])
    monkeypatch.setattr(script, "MAX_ITERATIONS", 50)
    await kit.fire(harness)
    await kit.settled(harness, "hooked", 1)
    assert kit.attr(harness, "demo.player_1", "volume") == 10
    assert kit.attr(harness, "demo.player_2", "volume") == 20
    assert kit.attr(harness, "demo.player_3", "volume") == 60  # 30 -> 60 in three steps
    trace = kit.last_trace(harness, "hooked")
    results = [s["result"] for s in trace["steps"] if s["path"].count("/") == 1]
    assert results[:3] == [{"iterations": 2}, {"iterations": 3}, {"iterations": 2}]
    assert trace["result"] == "failed"
    assert trace["error"] == {"code": "stopped", "message": "repeat stopped after 50 iterations"}


async def test_stop_event_condition_step_and_disabled_steps(kit, hooked):
    harness = await kit.hub([
        hooked([
            {"action": "play", "device": "demo.player_9", "enabled": False},
            {"event": "note", "event_data": {"n": "{{ 1 + 1 }}"}},
            {"condition": "state", "entity_id": "demo.player_1", "state": "playing"},
            {"action": "play", "device": "demo.player_2"},
        ]),
        {"id": "listener", "triggers": [{"trigger": "event", "event_type": "note"}],
         "actions": [{"if": "{{ trigger.event.data.n == 2 }}",
                      "then": [{"stop": "all good"}]},
                     {"stop": "not reached", "error": True}]},
    ])
    await kit.fire(harness)
    await kit.settled(harness, "hooked", 1)
    await kit.settled(harness, "listener", 1)
    trace = kit.last_trace(harness, "hooked")
    assert trace["result"] == "stopped" and "did not hold" in trace["stop_reason"]
    assert trace["steps"][0]["result"] == {"enabled": False}
    assert kit.state(harness, "demo.player_2") == "idle"
    listener = kit.last_trace(harness, "listener")
    assert (listener["result"], listener["stop_reason"]) == ("stopped", "all good")


async def test_errors_stop_the_run_unless_continue_on_error(kit, hooked):
    harness = await kit.hub([hooked([
        {"action": "volume_set", "device": "demo.player_1", "params": {"volume": 500},
         "continue_on_error": True},
        {"action": "volume_set", "device": "demo.nobody", "params": {"volume": 5}},
        {"action": "play", "device": "demo.player_1"},
    ])])
    await kit.fire(harness)
    await kit.settled(harness, "hooked", 1)
    status = kit.auto(harness, "hooked").status()
    assert status["last_result"] == "failed"
    assert status["last_error"]["code"] == "unknown_device"
    assert status["last_error"]["step"] == "action/1"
    trace = kit.last_trace(harness, "hooked")
    assert trace["steps"][0]["error"]["code"] == "invalid_params"
    assert kit.state(harness, "demo.player_1") == "idle"


async def test_a_template_error_fails_the_run_with_a_clear_message(kit, hooked):
    harness = await kit.hub([hooked([
        {"action": "volume_set", "device": "demo.player_1",
         "params": {"volume": "{{ trigger.json.level | int }}"}},
    ], mode="queued")])
    await kit.fire(harness, json={"level": "loud"})
    await kit.fire(harness, json={"level": "25"})
    await kit.settled(harness, "hooked", 2)
    failed, ok = reversed(kit.traces(harness, "hooked"))
    assert failed["result"] == "failed" and failed["error"]["code"] == "template_error"
    assert "int got an invalid input 'loud'" in failed["error"]["message"]
    assert "trigger.json.level | int" in failed["error"]["message"]
    assert failed["error"]["step"] == "action/0"
    assert ok["result"] == "ok" and kit.attr(harness, "demo.player_1", "volume") == 25
    status, _ = await harness.get("/health")
    assert status == 200


async def test_max_exceeded_levels(kit, caplog):
    clock = ManualClock()
    slow = [{"delay": 10}]
    harness = await kit.hub([
        {"id": "loud", "triggers": [{"trigger": "state", "entity_id": "demo.player_1"}],
         "actions": slow},
        {"id": "quiet", "max_exceeded": "silent",
         "triggers": [{"trigger": "state", "entity_id": "demo.player_1"}], "actions": slow},
    ], clock=clock)
    with caplog.at_level(logging.DEBUG, logger="hub.automations"):
        await harness.act("demo.player_1", "play")
        await harness.act("demo.player_1", "pause")
    skipped = [r for r in caplog.records if "already running" in r.getMessage()]
    assert [(r.levelname, "loud" in r.getMessage()) for r in skipped] == [("WARNING", True)]
    assert kit.auto(harness, "quiet").skipped == 1
    assert kit.traces(harness, "quiet")[0]["result"] == "skipped"


async def test_a_loop_between_two_automations_is_cut(kit):
    harness = await kit.hub([
        {"id": "ping", "mode": "queued", "max_exceeded": "silent",
         "triggers": [{"trigger": "event", "event_type": "pong"},
                      {"trigger": "state", "entity_id": "demo.player_1", "to": "playing"}],
         "actions": [{"event": "ping"}]},
        {"id": "pong", "mode": "queued", "max_exceeded": "silent",
         "triggers": [{"trigger": "event", "event_type": "ping"}],
         "actions": [{"event": "pong"}]},
    ])
    await harness.act("demo.player_1", "play")
    await kit.until(lambda: kit.auto(harness, "ping").skipped == 1)
    await kit.settled(harness, "ping", 5)
    await kit.settled(harness, "pong", 5)
    assert kit.auto(harness, "ping").runs + kit.auto(harness, "pong").runs == 10
    assert "a loop?" in kit.traces(harness, "ping")[0]["reason"]


async def test_bad_home_assistant_data_fails_the_step_for_every_target(kit, hooked):
    harness = await kit.hub([hooked([
        {"action": "media_player.volume_set", "entity_id": ["demo.player_1", "demo.player_2"],
         "data": {"volume_level": "{{ trigger.json.level }}"}}])])
    await kit.fire(harness, json={"level": 5})
    await kit.settled(harness, "hooked", 1)
    error = kit.last_trace(harness, "hooked")["error"]
    assert (error["code"], error["field"], error["step"]) == (
        "invalid_params", "volume_level", "action/0")
    assert kit.attr(harness, "demo.player_1", "volume") == 30
