"""YAML automations: schema, every trigger, condition and mode, governance, reload, and the two
documented examples. Real in-process hubs; time moves only through a ManualClock."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
import yaml

from hub.automations import AUTOMATIONS_SCHEMA, localtime
from hub.config import load_config
from hub.errors import ConfigError
from hub.plugin import Device, PluginInfo, hookimpl, standard_actions
from hub.testing import ManualClock

DOCS = Path(__file__).resolve().parents[2] / "docs" / "automations.md"
WEBHOOK = "Zq8wK3vN1xR5tY7uP0oI2eA4sD6fG9hJ"
WAIT = 5.0  # real seconds; only reached when a test is about to fail

UTC = dt.UTC
FRIDAY_0859 = dt.datetime(2026, 11, 20, 8, 59, 0, tzinfo=UTC).timestamp()
SATURDAY_0859 = dt.datetime(2026, 11, 21, 8, 59, 0, tzinfo=UTC).timestamp()
MONDAY_0859 = dt.datetime(2026, 11, 23, 8, 59, 30, tzinfo=UTC).timestamp()


def automation(id_: str, triggers: list, actions: list | None = None, **extra: Any) -> dict:
    return {"id": id_, "triggers": triggers,
            "actions": actions or [{"device": "demo.player_2", "action": "pause"}], **extra}


async def _hub(hub_factory, automations: list, *, players: int = 3, clock=None,
               **kwargs: Any):
    clock = clock or ManualClock()
    config = {"hub": {"time_zone": "UTC"}, "plugins": {"demo": {"players": players}},
              "automations": automations}
    return await hub_factory(config, only=kwargs.pop("only", ["demo"]), clock=clock, **kwargs)


async def until(condition, seconds: float = WAIT) -> None:
    """Poll in real time: an automation's run does real I/O (the audit commit)."""
    for _ in range(int(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


def auto(harness, id_: str):
    return harness.hub.automations.automations[id_]


async def settled(harness, id_: str, runs: int) -> None:
    a = auto(harness, id_)
    await until(lambda: a.runs >= runs and not a._runs)


def state(harness, device_id: str) -> str:
    return harness.hub.registry.get(device_id).state


async def audit_of(harness, principal: str) -> list[dict]:
    status, body = await harness.get(f"/audit?principal=automation:{principal}")
    assert status == 200
    return body["records"]


# -- schema ---------------------------------------------------------------------------------------


def test_schema_normalises_and_fills_defaults():
    [a] = AUTOMATIONS_SCHEMA([{
        "id": "x",
        "triggers": [
            {"trigger": "time", "at": 570, "weekdays": ["Friday", "mon", "mon"]},
            {"trigger": "state", "device": "demo.player_1", "to": False, "for": "00:01"},
            {"trigger": "interval", "every": {"minutes": 2}},
        ],
        "actions": [{"delay": "00:00:05"}, {"device": "d.x", "action": "play", "params": None}],
    }])
    assert a["alias"] == "x" and a["mode"] == "single" and a["max"] == 10
    assert a["maturity"] == "SUPERVISED" and a["enabled"] is True and a["conditions"] == []
    time_t, state_t, interval_t = a["triggers"]
    assert time_t["at"] == ["09:30:00"] and time_t["weekdays"] == ["mon", "fri"]
    assert state_t["device"] == ["demo.player_1"] and state_t["to"] == [False]
    assert state_t["for"] == 60.0
    assert interval_t["every"] == 120.0
    assert a["actions"] == [{"delay": 5.0}, {"device": ["d.x"], "action": "play", "params": {}}]
    assert [t["id"] for t in a["triggers"]] == ["0", "1", "2"]  # Home Assistant's default ids
    # normalised output validates again unchanged (the engine re-checks what the loader did)
    assert AUTOMATIONS_SCHEMA([a]) == [a]


@pytest.mark.parametrize(("bad", "path"), [
    (automation("a", [{"trigger": "time", "at": "25:00"}]), [0, "triggers", 0, "at"]),
    (automation("a", [{"trigger": "sunrise"}]), [0, "triggers", 0, "trigger"]),
    (automation("a", [{"trigger": "interval", "every": 0.5}]), [0, "triggers", 0, "every"]),
    (automation("a", [{"trigger": "webhook", "webhook_id": "secret"}]),
     [0, "triggers", 0, "webhook_id"]),
    (automation("a", [{"trigger": "webhook", "webhook_id": "a" * 30}]),
     [0, "triggers", 0, "webhook_id"]),
    (automation("a", [{"trigger": "state", "device": "d.x"}], maturity="GENIUS"),
     [0, "maturity"]),
    (automation("a", [{"trigger": "state", "device": "d.x"}], mode="sometimes"), [0, "mode"]),
    (automation("a", [{"trigger": "state", "device": "d.x"}],
                conditions=[{"condition": "time"}]), [0, "conditions", 0]),
    (automation("a", [{"trigger": "state", "device": "d.x"}],
                actions=[{"device": "d.x"}]), [0, "actions", 0, "action"]),
    (automation("a", [{"trigger": "state", "device": "d.x", "colour": 1}]),
     [0, "triggers", 0, "colour"]),
    (automation("a", []), [0, "triggers"]),
])
def test_schema_errors_name_the_key(bad, path):
    with pytest.raises(vol.Invalid) as err:
        AUTOMATIONS_SCHEMA([bad])
    errors = err.value.errors if isinstance(err.value, vol.MultipleInvalid) else [err.value]
    assert any(e.path[:len(path)] == path for e in errors), [e.path for e in errors]


def test_duplicate_ids_and_webhooks_are_refused():
    trig = [{"trigger": "webhook", "webhook_id": WEBHOOK}]
    with pytest.raises(vol.Invalid) as err:
        AUTOMATIONS_SCHEMA([automation("a", trig), automation("a", trig)])
    assert err.value.path == [1, "id"]
    with pytest.raises(vol.Invalid) as err:
        AUTOMATIONS_SCHEMA([automation("a", trig), automation("b", trig)])
    assert err.value.path == [1, "triggers", 0, "webhook_id"]


def test_check_config_reports_file_and_line(tmp_path):
    path = tmp_path / "hub.yaml"
    path.write_text(
        "automations:\n"
        "  - id: morning\n"
        "    triggers:\n"
        "      - trigger: time\n"
        "        at: \"7 o'clock\"\n"
        "    actions:\n"
        "      - delay: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={}, data_dir=tmp_path / "data")
    assert f"{path}:5" in str(err.value) and "at" in str(err.value)


# -- local time -----------------------------------------------------------------------------------


def test_next_occurrence_in_a_time_zone_and_on_weekdays():
    berlin = localtime.ZoneInfo("Europe/Berlin")
    friday_noon = dt.datetime(2026, 11, 20, 12, 0, tzinfo=berlin).timestamp()
    nxt = localtime.next_occurrence(friday_noon, "09:00:00", ["mon", "tue", "wed", "thu", "fri"],
                                    berlin)
    assert dt.datetime.fromtimestamp(nxt, berlin) == dt.datetime(2026, 11, 23, 9, 0,
                                                                 tzinfo=berlin)
    assert dt.datetime.fromtimestamp(nxt, UTC).hour == 8  # CET is UTC+1 in November


def test_time_window_spanning_midnight():
    def at(day: int, hour: int) -> float:
        return dt.datetime(2026, 11, day, hour, 0, tzinfo=UTC).timestamp()

    win = dict(after="22:00:00", before="06:00:00", tz=UTC)
    assert localtime.in_window(at(20, 23), weekdays=None, **win)
    assert localtime.in_window(at(21, 5), weekdays=None, **win)
    assert not localtime.in_window(at(21, 12), weekdays=None, **win)
    # Saturday 05:00 belongs to the window that opened on Friday evening
    assert localtime.in_window(at(21, 5), weekdays=["fri"], **win)
    assert not localtime.in_window(at(21, 23), weekdays=["fri"], **win)


# -- triggers -------------------------------------------------------------------------------------


async def test_state_trigger_to_acts_through_the_pipeline_as_the_automation(hub_factory):
    harness = await _hub(hub_factory, [automation(
        "quiet", [{"trigger": "state", "device": "demo.player_1", "to": "playing"}])])
    await harness.act("demo.player_2", "play")
    await harness.act("demo.player_1", "play")
    await settled(harness, "quiet", 1)
    assert state(harness, "demo.player_2") == "paused"
    records = await audit_of(harness, "quiet")
    assert {(r["record"], r["principal_kind"], r["source"], r["maturity"]) for r in records} == {
        ("decision", "automation", "automation", "SUPERVISED"),
        ("outcome", "automation", "automation", "SUPERVISED")}
    assert auto(harness, "quiet").status()["last_result"] == "ok"


async def test_state_trigger_from_and_globs(hub_factory):
    harness = await _hub(hub_factory, [automation(
        "resume", [{"trigger": "state", "device": "demo.player_[13]", "from": "paused",
                    "to": "playing"}])])
    await harness.act("demo.player_1", "play")  # idle -> playing: not from paused
    await harness.act("demo.player_2", "play")  # not watched
    await harness.act("demo.player_3", "play")
    await harness.act("demo.player_3", "pause")
    await harness.act("demo.player_3", "play")  # paused -> playing on a watched device
    await settled(harness, "resume", 1)
    a = auto(harness, "resume")
    assert a.runs == 1 and a.last_trigger["device_id"] == "demo.player_3"
    assert a.last_trigger["from"] == "paused"


async def test_state_trigger_on_an_attribute(hub_factory):
    harness = await _hub(hub_factory, [automation(
        "loud", [{"trigger": "state", "device": "demo.player_1", "attribute": "volume",
                  "to": [80, 90]}])])
    await harness.act("demo.player_1", "play")  # the state changes, not the volume
    await harness.act("demo.player_1", "volume_set", {"volume": 50})
    await harness.act("demo.player_1", "volume_set", {"volume": 90})
    await settled(harness, "loud", 1)
    assert auto(harness, "loud").runs == 1
    assert auto(harness, "loud").last_trigger == {
        "trigger": "state", "id": "0", "device_id": "demo.player_1", "from": 50, "to": 90,
        "attribute": "volume"}


async def test_state_trigger_for_waits_and_is_cancelled_by_a_change(hub_factory):
    clock = ManualClock()
    harness = await _hub(hub_factory, [automation(
        "held", [{"trigger": "state", "device": "demo.player_1", "to": "playing",
                  "for": 10}])], clock=clock)
    a = auto(harness, "held")
    await harness.act("demo.player_1", "play")
    await clock.advance(5)
    await harness.act("demo.player_1", "pause")  # did not hold: cancelled
    await clock.advance(20)
    assert a.runs == 0
    await harness.act("demo.player_1", "play")
    await clock.advance(9)
    assert a.runs == 0
    await clock.advance(1)
    await settled(harness, "held", 1)
    assert a.last_trigger["for"] == 10


async def test_time_trigger_on_weekdays(hub_factory):
    clock = ManualClock(start=FRIDAY_0859)
    harness = await _hub(hub_factory, [automation(
        "focus", [{"trigger": "time", "at": "09:00",
                   "weekdays": ["mon", "tue", "wed", "thu", "fri"]}],
        [{"device": "demo.player_1", "action": "play_media",
          "params": {"media_id": "demo:track:3"}}])], clock=clock)
    a = auto(harness, "focus")
    await clock.advance(59)
    assert a.runs == 0
    await clock.advance(1)  # Friday 09:00:00
    await settled(harness, "focus", 1)
    assert state(harness, "demo.player_1") == "playing"
    # Saturday: nothing
    clock.set_wall_time(SATURDAY_0859)
    await clock.advance(180)
    assert a.runs == 1
    # Monday 09:00
    clock.set_wall_time(MONDAY_0859)
    await clock.advance(120)
    await settled(harness, "focus", 2)
    assert a.runs == 2 and a.last_trigger == {"trigger": "time", "id": "0", "at": "09:00:00"}


async def test_interval_trigger(hub_factory):
    clock = ManualClock()
    harness = await _hub(hub_factory, [automation(
        "tick", [{"trigger": "interval", "every": 30}],
        [{"device": "demo.player_1", "action": "volume_get"}])], clock=clock)
    for n in (1, 2, 3):
        await clock.advance(30)
        await settled(harness, "tick", n)
    await clock.advance(29)
    assert auto(harness, "tick").runs == 3


async def test_event_trigger_with_match_and_no_self_triggering(hub_factory):
    harness = await _hub(hub_factory, [
        automation("echo", [{"trigger": "event", "event_type": "action",
                             "match": {"device_id": "demo.player_3", "outcome": "ok"}}],
                   [{"device": "demo.player_2", "action": "play"}]),
        # Its own action events match its trigger; it must not feed on them.
        automation("loop", [{"trigger": "event", "event_type": "action",
                             "match": {"device_id": "demo.player_1"}}],
                   [{"device": "demo.player_1", "action": "volume_get"}],
                   mode="parallel", max=50),
    ])
    await harness.act("demo.player_3", "play")
    await settled(harness, "echo", 1)
    assert state(harness, "demo.player_2") == "playing"
    await harness.act("demo.player_1", "volume_get")
    await settled(harness, "loop", 1)
    await asyncio.sleep(0.05)
    assert auto(harness, "loop").runs == 1


async def test_webhook_trigger_without_a_bearer_token(hub_factory):
    harness = await _hub(hub_factory, [automation(
        "door", [{"trigger": "webhook", "webhook_id": WEBHOOK}],
        [{"device": "demo.player_1", "action": "play"}])])
    status, body = await harness.request("POST", f"/webhooks/{WEBHOOK}", token=None,
                                         json={"who": "doorbell"})
    assert status == 200 and body == {"triggered": ["door"]}
    await settled(harness, "door", 1)
    assert state(harness, "demo.player_1") == "playing"
    assert WEBHOOK not in str(auto(harness, "door").status())  # the id is a credential
    status, body = await harness.request("POST", f"/webhooks/{WEBHOOK[:-1]}x", token=None)
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await harness.request("POST", f"/webhooks/{WEBHOOK}", token=None,
                                         data=b"{nope", headers={"Content-Type": "text/plain"})
    assert status == 400


# -- conditions -----------------------------------------------------------------------------------


async def test_state_condition(hub_factory):
    harness = await _hub(hub_factory, [automation(
        "gated", [{"trigger": "state", "device": "demo.player_1"}],
        conditions=[{"condition": "state", "device": "demo.player_3", "state": "playing"}])])
    await harness.act("demo.player_2", "play")
    await harness.act("demo.player_1", "play")  # player_3 idle: skipped
    a = auto(harness, "gated")
    assert a.runs == 0 and a.skipped == 1
    await harness.act("demo.player_3", "play")
    await harness.act("demo.player_1", "pause")
    await settled(harness, "gated", 1)
    assert state(harness, "demo.player_2") == "paused"


@pytest.mark.parametrize(("condition", "start", "runs"), [
    ({"condition": "time", "after": "08:00", "before": "10:00"}, FRIDAY_0859, 1),
    ({"condition": "time", "after": "09:30"}, FRIDAY_0859, 0),
    ({"condition": "time", "before": "08:30", "weekdays": ["fri"]}, FRIDAY_0859, 0),
    ({"condition": "weekday", "weekdays": ["fri"]}, FRIDAY_0859, 1),
    ({"condition": "weekday", "weekdays": ["sat", "sun"]}, FRIDAY_0859, 0),
    ({"condition": "weekday", "weekdays": ["sat", "sun"]}, SATURDAY_0859, 1),
])
async def test_time_and_weekday_conditions(hub_factory, condition, start, runs):
    harness = await _hub(hub_factory, [automation(
        "timed", [{"trigger": "webhook", "webhook_id": WEBHOOK}],
        [{"device": "demo.player_1", "action": "volume_get"}], conditions=[condition])],
        clock=ManualClock(start=start))
    await harness.request("POST", f"/webhooks/{WEBHOOK}", token=None)
    if runs:
        await settled(harness, "timed", runs)
    assert auto(harness, "timed").runs == runs


# -- modes ----------------------------------------------------------------------------------------


def _slow(mode: str, **extra: Any) -> dict:
    return automation("slow", [{"trigger": "webhook", "webhook_id": WEBHOOK}],
                      [{"delay": 10}, {"device": "demo.player_1", "action": "volume_get"}],
                      mode=mode, **extra)


async def _fire(harness, times: int) -> None:
    for _ in range(times):
        status, _ = await harness.request("POST", f"/webhooks/{WEBHOOK}", token=None)
        assert status == 200


async def test_mode_single(hub_factory):
    clock = ManualClock()
    harness = await _hub(hub_factory, [_slow("single")], clock=clock)
    await _fire(harness, 3)
    a = auto(harness, "slow")
    assert (a.runs, a.skipped, len(a._runs)) == (1, 2, 1)
    await clock.advance(10)
    await settled(harness, "slow", 1)
    assert a.last_result == "ok"


async def test_mode_restart(hub_factory):
    clock = ManualClock()
    harness = await _hub(hub_factory, [_slow("restart")], clock=clock)
    events = harness.hub.bus.subscribe(types=["automation"])
    await _fire(harness, 1)
    await clock.advance(6)
    await _fire(harness, 1)  # cancels the first, 4 s before its action
    await clock.advance(6)
    a = auto(harness, "slow")
    assert a.runs == 2 and len(a._runs) == 1
    await clock.advance(4)
    await settled(harness, "slow", 2)
    results = []
    while (event := events.get_nowait()) is not None:
        if event.data["status"] == "finished":
            results.append(event.data["result"])
    assert results == ["cancelled", "ok"]
    assert len([r for r in await audit_of(harness, "slow") if r["record"] == "outcome"]) == 1


async def test_mode_queued_with_max(hub_factory):
    clock = ManualClock()
    harness = await _hub(hub_factory, [_slow("queued", max=2)], clock=clock)
    await _fire(harness, 3)
    a = auto(harness, "slow")
    assert (len(a._runs), len(a._queue), a.skipped) == (1, 1, 1)
    await clock.advance(10)
    await until(lambda: a.runs == 2 and len(a._queue) == 0)
    assert len(a._runs) == 1  # one after the other, never together
    await until(lambda: clock.sleepers > 0)
    await clock.advance(10)
    await settled(harness, "slow", 2)
    assert a.status()["queued"] == 0 and a.last_result == "ok"


async def test_mode_parallel_with_max(hub_factory):
    clock = ManualClock()
    harness = await _hub(hub_factory, [_slow("parallel", max=2)], clock=clock)
    await _fire(harness, 3)
    a = auto(harness, "slow")
    assert (len(a._runs), a.skipped) == (2, 1)
    await clock.advance(10)
    await settled(harness, "slow", 2)
    outcomes = [r for r in await audit_of(harness, "slow") if r["record"] == "outcome"]
    assert len(outcomes) == 2


# -- governance -----------------------------------------------------------------------------------


async def test_an_intern_automation_is_denied_media_control_and_audited(hub_factory):
    harness = await _hub(hub_factory, [automation(
        "eager", [{"trigger": "state", "device": "demo.player_1", "to": "playing"}],
        [{"device": "demo.player_2", "action": "play"},
         {"device": "demo.player_3", "action": "play"}], maturity="INTERN")])
    actions = harness.hub.bus.subscribe(types=["action"], devices=["demo.player_2"])
    await harness.act("demo.player_1", "play")
    await settled(harness, "eager", 1)
    assert state(harness, "demo.player_2") == "idle"
    assert state(harness, "demo.player_3") == "idle"  # the run stopped at the denial
    status = auto(harness, "eager").status()
    assert status["last_result"] == "denied" and status["principal"] == "automation:eager"
    assert status["last_error"]["code"] == "forbidden"
    assert status["last_error"]["required"] == "SUPERVISED"
    [record] = await audit_of(harness, "eager")
    assert record["decision"] == "deny" and record["principal_kind"] == "automation"
    assert record["maturity"] == "INTERN" and record["device"] == "demo.player_2"
    assert "INTERN" in record["reason"]
    event = actions.get_nowait()
    assert event.data["outcome"] == "denied" and event.data["principal"] == "automation:eager"


# -- reload ---------------------------------------------------------------------------------------


async def test_reload_keeps_unchanged_automations_running(hub_factory):
    clock = ManualClock()
    keep = _slow("single")
    change = automation("changing", [{"trigger": "interval", "every": 100}],
                        [{"device": "demo.player_1", "action": "volume_get"}])
    harness = await _hub(hub_factory, [keep, change], clock=clock)
    engine = harness.hub.automations
    await _fire(harness, 1)
    kept = auto(harness, "slow")
    old_changing = auto(harness, "changing")
    added = automation("new", [{"trigger": "state", "device": "demo.player_3"}])
    await engine.reload([keep, {**change, "mode": "parallel"}, added])
    assert auto(harness, "slow") is kept and len(kept._runs) == 1  # its run goes on
    assert auto(harness, "changing") is not old_changing
    assert [s["id"] for s in engine.status()] == ["slow", "changing", "new"]
    await engine.reload([added])
    assert [s["id"] for s in engine.status()] == ["new"]
    assert not kept._runs  # removed: its run was cancelled
    with pytest.raises(ConfigError, match="triggers"):
        await engine.reload([{"id": "broken", "actions": [{"delay": 1}]}])
    assert [s["id"] for s in engine.status()] == ["new"]


async def test_reload_route(hub_factory, tmp_path):
    harness = await _hub(hub_factory, [])
    path = tmp_path / "hub.yaml"
    harness.hub.config.path = path  # as if started from this file
    path.write_text(yaml.safe_dump({
        "hub": {"time_zone": "UTC"}, "plugins": {"demo": {"players": 3}},
        "automations": [automation("fresh", [{"trigger": "webhook", "webhook_id": WEBHOOK}])],
    }))
    agent = await harness.token("agent", maturity="AUTONOMOUS")
    status, body = await harness.request("POST", "/automations/reload", token=agent)
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert harness.hub.automations.status() == []
    status, body = await harness.request("POST", "/automations/reload")
    assert status == 200 and [a["id"] for a in body["automations"]] == ["fresh"]
    status, _ = await harness.request("POST", f"/webhooks/{WEBHOOK}", token=None)
    assert status == 200
    # an invalid file: 400 with file:line, and the running automations stay
    path.write_text("automations:\n  - id: fresh\n    triggers: []\n    actions: []\n")
    status, body = await harness.request("POST", "/automations/reload")
    assert status == 400 and body["error"]["code"] == "invalid_config"
    assert re.search(r"hub\.yaml:\d+", body["error"]["message"])
    assert [a["id"] for a in harness.hub.automations.status()] == ["fresh"]


# -- the documented examples, on Sonos and Spotify stand-ins -----------------------------------


class FakePlayers:
    """A stand-in plugin with given device ids and the standard actions."""

    def __init__(self, *device_ids: str) -> None:
        self.device_ids = device_ids

    @hookimpl
    def describe(self):
        return PluginInfo(actions=standard_actions())

    @hookimpl
    def discover(self, ctx):
        return [Device(id=d, name=d, actions=frozenset(standard_actions()), state="idle",
                       attributes={"volume": 20}) for d in self.device_ids]

    @hookimpl
    def act(self, ctx, device, action, params):
        if action == "play_media":
            ctx.update_device(device.id, state="playing", media_content_id=params["media_id"])
        elif action in ("play", "pause", "stop"):
            ctx.update_device(device.id, state={"play": "playing", "pause": "paused",
                                                "stop": "idle"}[action])
        elif action == "volume_set":
            ctx.update_device(device.id, volume=params["volume"])


def _doc_blocks() -> list[Any]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)]


def _documented_automations() -> dict[str, dict]:
    return {a["id"]: a for block in _doc_blocks() if "automations" in block
            for a in block["automations"] if "id" in a}


def test_every_example_of_the_docs_validates_and_checks_clean():
    """Each yaml block of docs/automations.md: whole automations, or a list of triggers,
    conditions or actions (completed into an automation)."""
    from hub.automations.check import Catalog, check_automations
    from hub.plugin import standard_actions

    automations: list[dict] = []
    for index, block in enumerate(_doc_blocks()):
        if "automations" in block:
            automations.extend(block["automations"])
        else:
            assert set(block) <= {"triggers", "conditions", "actions"}, block
            automations.append({
                "id": f"doc_{index}", "triggers": block.get("triggers", [
                    {"trigger": "hub_start"}]), "conditions": block.get("conditions", []),
                "actions": block.get("actions", [{"delay": 1}])})
    validated = AUTOMATIONS_SCHEMA(automations)  # raises on any invalid example
    assert len(validated) >= 18
    actions = {**standard_actions(), "volume_get": None}
    catalog = Catalog(status={p: "loaded" for p in ("demo", "sonos", "spotify")},
                      actions={p: actions for p in ("demo", "sonos", "spotify")})
    assert check_automations(validated, catalog) == []


async def test_documented_examples_run_under_governance(hub_factory):
    examples = _documented_automations()
    assert {"pause_spotify_when_sonos_plays", "focus_playlist_weekdays"} <= set(examples)
    clock = ManualClock(start=FRIDAY_0859)
    sonos = "sonos.RINCON_000E58A0123401400"
    harness = await hub_factory(
        {"hub": {"time_zone": "UTC"},
         "plugins": {"sonos": {}, "spotify": {}},
         "automations": list(examples.values())},
        only=["sonos", "spotify"], clock=clock,
        extra_plugins={"sonos": FakePlayers(sonos), "spotify": FakePlayers("spotify.alice")})

    # 09:00 on a Friday: the focus playlist starts on Spotify
    await clock.advance(60)
    await settled(harness, "focus_playlist_weekdays", 1)
    spotify = harness.hub.registry.get("spotify.alice")
    assert spotify.state == "playing" and spotify.attributes["volume"] == 35
    assert spotify.attributes["media_content_id"].startswith("spotify:playlist:")

    # the Sonos speaker starts playing: Spotify pauses
    status, _ = await harness.act(sonos, "play")
    assert status == 200
    await settled(harness, "pause_spotify_when_sonos_plays", 1)
    assert harness.hub.registry.get("spotify.alice").state == "paused"

    for principal in ("focus_playlist_weekdays", "pause_spotify_when_sonos_plays"):
        records = await audit_of(harness, principal)
        assert records and all(r["principal_kind"] == "automation" for r in records)
        assert {r["decision"] for r in records if r["record"] == "decision"} == {"allow"}
        assert {r["outcome"] for r in records if r["record"] == "outcome"} == {"ok"}


async def test_disabled_automations_and_continue_on_error(hub_factory):
    harness = await _hub(hub_factory, [
        automation("off", [{"trigger": "webhook", "webhook_id": WEBHOOK}], enabled=False),
        automation("stubborn", [{"trigger": "state", "device": "demo.player_1",
                                 "to": "playing"}],
                   [{"device": "demo.player_2", "action": "fly", "continue_on_error": True},
                    {"device": "demo.player_2", "action": "play"}]),
    ])
    status, _ = await harness.request("POST", f"/webhooks/{WEBHOOK}", token=None)
    assert status == 404  # a disabled automation's webhook answers like an unknown one
    assert auto(harness, "off").status()["enabled"] is False
    await harness.act("demo.player_1", "play")
    await settled(harness, "stubborn", 1)
    status = auto(harness, "stubborn").status()
    assert status["last_result"] == "ok"
    assert status["last_error"]["code"] == "unsupported_action"
    assert state(harness, "demo.player_2") == "playing"
