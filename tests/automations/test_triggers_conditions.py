"""Home Assistant's triggers and conditions, on the demo plugin and a ManualClock. Includes the
state condition's `for:` (a confirmed defect: it used to be accepted and ignored)."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.automations import localtime
from hub.automations.triggers import next_pattern_time
from hub.testing import ManualClock

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=UTC).timestamp()


def pause_2(id_: str, triggers: list, **extra) -> dict:
    return {"id": id_, "triggers": triggers,
            "actions": [{"action": "pause", "device": "demo.player_2"}], **extra}


def volume_get(id_: str, triggers: list, **extra) -> dict:
    return {"id": id_, "triggers": triggers,
            "actions": [{"action": "volume_get", "device": "demo.player_1"}], **extra}


# -- state condition `for:` (the defect) ------------------------------------------------------


async def test_state_condition_for_measures_time_since_the_last_change(kit, hooked):
    clock = ManualClock()
    harness = await kit.hub([hooked(
        [{"action": "volume_get", "device": "demo.player_1"}],
        conditions=[{"condition": "state", "entity_id": "demo.player_1", "state": "playing",
                     "for": 3600}])], clock=clock)
    await harness.act("demo.player_1", "repeat_set", {"repeat": "one"})  # plays for hours
    await harness.act("demo.player_1", "play")
    await clock.advance(1)
    await kit.fire(harness)  # played for 1 s, not an hour: no run
    a = kit.auto(harness, "hooked")
    assert (a.runs, a.skipped) == (0, 1)
    trace = kit.last_trace(harness, "hooked")
    assert trace["result"] == "conditions_not_met"
    [cond] = trace["conditions"]
    assert cond["path"] == "condition/0" and cond["result"] is False
    assert cond["devices"]["demo.player_1"] == {"value": "playing", "held_for": 1.0}

    await clock.advance(3598)  # 3599 s
    await kit.fire(harness)
    assert a.runs == 0
    await harness.act("demo.player_1", "volume_set", {"volume": 50})  # attribute only
    await clock.advance(1)  # 3600 s of playing, a volume change a second ago
    await kit.fire(harness)
    await kit.settled(harness, "hooked", 1)

    await harness.act("demo.player_1", "pause")
    await harness.act("demo.player_1", "play")  # a new change: the hour starts again
    await clock.advance(3599)
    await kit.fire(harness)
    assert a.runs == 1 and a.skipped == 3


async def test_state_condition_for_on_an_attribute(kit, hooked):
    clock = ManualClock()
    harness = await kit.hub([hooked(
        [{"action": "volume_get", "device": "demo.player_1"}],
        conditions=[{"condition": "state", "device": "demo.player_1", "attribute": "volume",
                     "state": 70, "for": {"minutes": 10}}])], clock=clock)
    await clock.advance(3600)
    await harness.act("demo.player_1", "volume_set", {"volume": 70})
    await clock.advance(599)
    await kit.fire(harness)
    assert kit.auto(harness, "hooked").runs == 0
    await harness.act("demo.player_1", "play")  # the state changes, not the volume
    await clock.advance(1)
    await kit.fire(harness)
    await kit.settled(harness, "hooked", 1)


async def test_state_condition_for_a_device_known_since_start_and_match_any(kit, hooked):
    clock = ManualClock()
    harness = await kit.hub([hooked(
        [{"action": "volume_get", "device": "demo.player_1"}],
        conditions=[{"condition": "state", "entity_id": ["demo.player_1", "demo.player_2"],
                     "state": "idle", "for": 60, "match": "any"}])], clock=clock)
    await kit.fire(harness)  # idle since start, but only for 0 s
    await clock.advance(60)
    await harness.act("demo.player_1", "play")
    await kit.fire(harness)  # player_2 has been idle for 60 s
    await kit.settled(harness, "hooked", 1)
    assert kit.auto(harness, "hooked").skipped == 1


# -- state trigger --------------------------------------------------------------------------


async def test_state_trigger_not_from_not_to_and_trigger_data(kit):
    harness = await kit.hub([{
        "id": "moved", "triggers": [{"trigger": "state", "entity_id": "demo.player_1",
                                     "not_from": "paused", "not_to": "idle"}],
        "actions": [{"variables": {"seen": "{{ trigger.from_state.state }}>"
                                           "{{ trigger.to_state.state }}",
                                   "name": "{{ trigger.to_state.name }}"}}]}])
    await harness.act("demo.player_1", "play")   # idle -> playing: fires
    await kit.settled(harness, "moved", 1)
    await harness.act("demo.player_1", "pause")  # playing -> paused: fires
    await kit.settled(harness, "moved", 2)
    await harness.act("demo.player_1", "play")   # from paused: no
    await harness.act("demo.player_1", "stop")   # to idle: no
    a = kit.auto(harness, "moved")
    assert a.runs == 2
    variables = kit.last_trace(harness, "moved")["variables"]
    assert variables["seen"] == "playing>paused" and variables["name"] == "Living Room"
    assert variables["trigger"]["entity_id"] == "demo.player_1"
    assert variables["trigger"]["platform"] == "state" and variables["trigger"]["id"] == "0"


async def test_state_trigger_without_from_to_fires_on_attribute_changes_like_ha(kit):
    harness = await kit.hub([
        pause_2("any_change", [{"trigger": "state", "entity_id": "demo.player_1"}],
                mode="queued"),
        pause_2("state_only", [{"trigger": "state", "entity_id": "demo.player_1",
                                "to": None}], mode="queued"),
    ])
    await harness.act("demo.player_1", "volume_set", {"volume": 40})  # attributes only
    await kit.settled(harness, "any_change", 1)
    assert kit.auto(harness, "state_only").runs == 0
    await harness.act("demo.player_1", "play")
    await kit.settled(harness, "any_change", 2)
    await kit.settled(harness, "state_only", 1)


async def test_state_trigger_by_name(kit):
    harness = await kit.hub([pause_2("kitchen", [
        {"trigger": "state", "entity_id": "name:kitchen", "to": "playing"}])])
    await harness.act("demo.player_1", "play")
    await harness.act("demo.player_2", "play")  # demo.player_2 is "Kitchen"
    await kit.settled(harness, "kitchen", 1)
    assert kit.auto(harness, "kitchen").last_trigger["device_id"] == "demo.player_2"


# -- numeric_state ------------------------------------------------------------------------------


async def test_numeric_state_fires_on_the_way_in_only(kit):
    clock = ManualClock()
    harness = await kit.hub([
        volume_get("loud", [{"trigger": "numeric_state", "entity_id": "demo.player_1",
                             "attribute": "volume", "above": 60}]),
        # already in range (30 < 50) when it starts: must leave and come back first
        volume_get("quiet", [{"trigger": "numeric_state", "entity_id": "demo.player_1",
                              "attribute": "volume", "below": 50}]),
        volume_get("held", [{"trigger": "numeric_state", "entity_id": "demo.player_1",
                             "value_template": "{{ state.attributes.volume * 2 }}",
                             "above": 150, "for": "00:00:30"}]),
    ], clock=clock)
    for volume in (70, 80, 20, 65):
        await harness.act("demo.player_1", "volume_set", {"volume": volume})
    await kit.until(lambda: kit.auto(harness, "loud").runs == 2)
    assert kit.auto(harness, "quiet").runs == 1  # 80 -> 20
    assert kit.auto(harness, "held").runs == 0
    await harness.act("demo.player_1", "volume_set", {"volume": 90})  # 180 > 150
    await clock.advance(20)
    await harness.act("demo.player_1", "volume_set", {"volume": 95})  # still in range
    await clock.advance(10)
    await kit.settled(harness, "held", 1)
    trigger = kit.last_trace(harness, "held")["trigger"]
    assert trigger["above"] == 150 and trigger["for"] == 30.0
    await harness.act("demo.player_1", "volume_set", {"volume": 10})
    await harness.act("demo.player_1", "volume_set", {"volume": 99})
    await clock.advance(29)
    await harness.act("demo.player_1", "volume_set", {"volume": 50})  # left: cancelled
    await clock.advance(60)
    assert kit.auto(harness, "held").runs == 1


async def test_numeric_state_condition(kit, hooked):
    harness = await kit.hub([hooked(
        [{"action": "volume_get", "device": "demo.player_1"}],
        conditions=[{"condition": "numeric_state", "entity_id": "demo.player_1",
                     "attribute": "volume", "above": 20, "below": 40}])])
    await kit.fire(harness)
    await kit.settled(harness, "hooked", 1)
    await harness.act("demo.player_1", "volume_set", {"volume": 40})
    await kit.fire(harness)
    assert kit.auto(harness, "hooked").runs == 1
    assert kit.last_trace(harness, "hooked")["conditions"][0]["values"] == {
        "demo.player_1": 40.0}


# -- time, time_pattern, hub_start, template ----------------------------------------------------


def test_next_pattern_time():
    now = at(20, 8, 59, 59)
    assert next_pattern_time(now, list(range(24)), [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50,
                                                     55], [0], UTC) == at(20, 9, 0)
    assert next_pattern_time(at(20, 9, 0), list(range(24)), [0, 30], [0], UTC) == at(20, 9, 30)
    assert next_pattern_time(at(20, 23, 30), [6], [0], [0], UTC) == at(21, 6, 0)


async def test_time_pattern_every_five_minutes_and_hours_only(kit):
    clock = ManualClock(start=at(20, 8, 58))
    harness = await kit.hub([
        volume_get("five", [{"trigger": "time_pattern", "minutes": "/5"}], mode="parallel"),
        volume_get("nine", [{"trigger": "time_pattern", "hours": 9}]),  # 09:00:00 only
    ], clock=clock)
    await clock.advance(120)  # 09:00
    await kit.settled(harness, "five", 1)
    await kit.settled(harness, "nine", 1)
    for _ in range(3):
        await clock.advance(300)
    await kit.settled(harness, "five", 4)
    assert kit.auto(harness, "nine").runs == 1
    assert kit.last_trace(harness, "five")["trigger"]["now"] == "2026-11-20T09:15:00+00:00"


async def test_time_trigger_at_a_device_attribute_with_offset(kit):
    clock = ManualClock(start=at(20, 6, 0))
    harness = await kit.hub([volume_get("wake", [{
        "trigger": "time", "at": {"entity_id": "demo.player_1", "attribute": "alarm",
                                  "offset": "-00:05:00"}}])], clock=clock)
    registry = harness.hub.registry
    registry.update("demo", "demo.player_1", attributes={"alarm": "07:00"})
    await clock.advance(54 * 60)  # 06:54
    assert kit.auto(harness, "wake").runs == 0
    await clock.advance(60)  # 06:55
    await kit.settled(harness, "wake", 1)
    # a one-off date-time; moved before it comes
    registry.update("demo", "demo.player_1", attributes={"alarm": "2026-11-20T08:00:00Z"})
    await clock.advance(30 * 60)
    registry.update("demo", "demo.player_1", attributes={"alarm": at(20, 9, 0)})
    await clock.advance(35 * 60)  # 08:00: moved away, nothing
    assert kit.auto(harness, "wake").runs == 1
    await clock.advance(54 * 60)  # 08:54
    assert kit.auto(harness, "wake").runs == 1
    await clock.advance(60)  # 08:55
    await kit.settled(harness, "wake", 2)
    assert kit.last_trace(harness, "wake")["trigger"]["entity_id"] == "demo.player_1"


async def test_hub_start_trigger_fires_once_at_start_not_on_reload(kit):
    start = {"id": "boot", "triggers": [{"trigger": "homeassistant", "event": "start"}],
             "actions": [{"action": "volume_set", "device": "demo.player_1",
                          "params": {"volume": 12}}]}
    harness = await kit.hub([start])
    await kit.settled(harness, "boot", 1)
    assert kit.attr(harness, "demo.player_1", "volume") == 12
    await harness.hub.automations.reload([{**start, "alias": "changed"}])
    await kit.until(lambda: not kit.auto(harness, "boot")._runs)
    assert kit.auto(harness, "boot").runs == 0  # a new automation, not a new start


async def test_template_trigger_with_for(kit):
    clock = ManualClock()
    harness = await kit.hub([volume_get("both", [{
        "trigger": "template", "for": 5,
        "value_template": "{{ is_state('demo.player_1', 'playing') and "
                          "is_state('demo.player_2', 'playing') }}"}])], clock=clock)
    await harness.act("demo.player_1", "play")
    await harness.act("demo.player_2", "play")
    await clock.advance(4)
    await harness.act("demo.player_2", "pause")  # false again: cancelled
    await clock.advance(10)
    assert kit.auto(harness, "both").runs == 0
    await harness.act("demo.player_2", "play")
    await clock.advance(5)
    await kit.settled(harness, "both", 1)


async def test_event_trigger_on_a_custom_event_and_trigger_ids(kit, hooked):
    harness = await kit.hub([
        hooked([{"event": "doorbell", "event_data": {"who": "{{ trigger.json.who }}"}}]),
        {"id": "ring", "triggers": [
            {"trigger": "event", "event_type": "doorbell", "event_data": {"who": "postman"},
             "id": "post"},
            {"trigger": "event", "event_type": "doorbell", "id": "anyone"}],
         "mode": "queued",
         "actions": [{"choose": [
             {"conditions": [{"condition": "trigger", "id": "post"}],
              "sequence": [{"action": "pause", "device": "demo.player_1"}]}],
             "default": [{"action": "play", "device": "demo.player_1"}]}]},
    ])
    await kit.fire(harness, json={"who": "neighbour"})
    await kit.settled(harness, "ring", 1)
    assert kit.state(harness, "demo.player_1") == "playing"
    assert kit.last_trace(harness, "ring")["trigger"]["event"]["data"] == {"who": "neighbour"}
    await kit.fire(harness, json={"who": "postman"})
    await kit.settled(harness, "ring", 3)  # both triggers match the postman
    ids = sorted(t["trigger"]["id"] for t in kit.traces(harness, "ring"))
    assert ids == ["anyone", "anyone", "post"]


async def test_webhook_json_form_query_and_methods(kit):
    harness = await kit.hub([{
        "id": "hook", "mode": "queued",
        "triggers": [{"trigger": "webhook", "webhook_id": kit.webhook,
                      "allowed_methods": ["POST", "GET"]}],
        "actions": [{"variables": {"got": "{{ trigger.json.level if trigger.json is defined "
                                          "else trigger.data.level|default(trigger.query.level)"
                                          " }}"}}]}])
    await kit.fire(harness, json={"level": 3})
    await kit.fire(harness, data={"level": "4"})
    status, _ = await harness.request("GET", f"/webhooks/{kit.webhook}?level=5", token=None)
    assert status == 200
    status, _ = await harness.request("PUT", f"/webhooks/{kit.webhook}", token=None)
    assert status == 404  # not an allowed method: the same answer as an unknown hook
    await kit.settled(harness, "hook", 3)
    got = [t["variables"]["got"] for t in reversed(kit.traces(harness, "hook"))]
    assert got == [3, 4, 5]


# -- other conditions ---------------------------------------------------------------------------


@pytest.mark.parametrize(("conditions", "runs"), [
    (["{{ is_state('demo.player_1', 'idle') }}"], 1),
    ([{"condition": "template", "value_template": "{{ 1 == 2 }}"}], 0),
    ([{"or": [{"condition": "state", "entity_id": "demo.player_1", "state": "playing"},
              {"condition": "state", "entity_id": "demo.player_2", "state": "idle"}]}], 1),
    ([{"condition": "and", "conditions": [
        "{{ true }}", {"not": [{"condition": "state", "entity_id": "demo.player_1",
                                "state": ["idle", "paused"]}]}]}], 0),
    ([{"condition": "time", "after": "08:00", "before": "10:00", "weekday": ["fri"]}], 1),
    ([{"condition": "state", "entity_id": "demo.unknown", "state": "idle"}], 0),
    ([{"condition": "template", "value_template": "{{ false }}", "enabled": False}], 1),
])
async def test_conditions(kit, hooked, conditions, runs):
    harness = await kit.hub([hooked([{"action": "volume_get", "device": "demo.player_1"}],
                                    conditions=conditions)],
                            clock=ManualClock(start=at(20, 9, 0)))
    await kit.fire(harness)
    if runs:
        await kit.settled(harness, "hooked", runs)
    assert kit.auto(harness, "hooked").runs == runs
    trace = kit.last_trace(harness, "hooked")
    assert trace["result"] == ("ok" if runs else "conditions_not_met")


def test_local_time_window_uses_the_time_zone():
    paris = localtime.ZoneInfo("Europe/Paris")
    assert localtime.in_window(at(20, 21, 30), "22:00:00", None, None, paris)  # 22:30 CET
