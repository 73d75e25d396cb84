"""The corpus: automations written the way Home Assistant users write them (the patterns of
Home Assistant's own documentation, mapped to media players), each with a scenario. Every one
must pass the schema and the check against the demo plugin with no problem, then run its
scenario on a fresh demo hub with a ManualClock and end as expected.

A case (tests/automations/corpus/*.yaml):

    - name: what it shows
      start: "2026-11-20T21:00:00"     # wall clock at start (UTC), optional
      players: 3                       # demo players, optional
      automations: [...]               # Home Assistant syntax; the first one is watched
      steps:                           # optional
        - act: [demo.player_1, volume_set, {volume: 70}]
        - advance: 600                 # seconds of the hub's clock
        - webhook: {json: {button: play}}           # also {id: <another webhook id>}
        - set: {device: demo.player_1, attributes: {alarm: "07:00"}}
        - trigger: {variables: {level: 5}}          # POST /automations/<id>/trigger
        - expect: {...}                # as `expect`, in the middle of a scenario
      expect:
        runs: 1                        # runs started by the watched automation
        result: ok                     # of its last trace
        states: {demo.player_2: paused}
        attributes: {demo.player_1: {volume: 40}}
        variables: {level: 5}          # of its last trace
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.automations import AUTOMATIONS_SCHEMA
from hub.automations.check import Catalog, check_automations
from hub.plugin import standard_actions
from hub.testing import ManualClock

CORPUS = Path(__file__).parent / "corpus"
WEBHOOK = "Zq8wK3vN1xR5tY7uP0oI2eA4sD6fG9hJ"


def load_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()):
            case["file"] = path.name
            cases.append(case)
    return cases


CASES = load_cases()


def test_the_corpus_is_large_and_every_automation_checks_clean():
    automations = [a for case in CASES for a in case["automations"]]
    assert len(CASES) >= 40 and len(automations) >= 45
    demo = Catalog(status={"demo": "loaded"},
                   actions={"demo": {**standard_actions(), "volume_get": None}})
    for case in CASES:
        validated = AUTOMATIONS_SCHEMA(case["automations"])
        assert check_automations(validated, demo) == [], case["name"]


async def quiet(harness: Any) -> None:
    """Wait until no automation has an action in the pipeline for a few polls: every run is
    then waiting on the clock or an event, or done."""
    engine = harness.hub.automations
    calm = 0
    for _ in range(2000):
        await asyncio.sleep(0.003)
        calm = calm + 1 if not engine._background else 0
        if calm >= 4:
            return
    raise AssertionError("automations did not settle")


async def run_step(harness: Any, step: dict[str, Any], watched: str) -> None:
    (kind, value), = step.items()
    if kind == "act":
        device, action, *params = value
        status, body = await harness.act(device, action, params[0] if params else {})
        assert status == 200, body
    elif kind == "advance":
        await harness.clock.advance(float(value))
    elif kind == "webhook":
        value = dict(value or {})
        hook = value.pop("id", WEBHOOK)
        status, body = await harness.request("POST", f"/webhooks/{hook}", token=None, **value)
        assert status == 200, body
    elif kind == "set":
        harness.hub.registry.update(value["device"].split(".")[0], value["device"],
                                    state=value.get("state"),
                                    attributes=value.get("attributes"))
    elif kind == "trigger":
        status, body = await harness.request("POST", f"/automations/{watched}/trigger",
                                             json=value or {})
        assert status == 200, body
    elif kind == "expect":
        await quiet(harness)
        check(harness, value, watched)
    else:
        raise AssertionError(f"unknown step {kind}")
    await quiet(harness)


def check(harness: Any, expect: dict[str, Any], watched: str) -> None:
    automation = harness.hub.automations.automations[watched]
    traces = harness.hub.automations.traces.list(watched)
    if "runs" in expect:
        assert automation.runs == expect["runs"], traces[:1]
    if "result" in expect:
        assert traces and traces[0]["result"] == expect["result"], traces[:1]
    for device_id, state in (expect.get("states") or {}).items():
        assert harness.hub.registry.get(device_id).state == state, (device_id, traces[:1])
    for device_id, attributes in (expect.get("attributes") or {}).items():
        actual = harness.hub.registry.get(device_id).attributes
        for key, value in attributes.items():
            assert actual.get(key) == value, (device_id, key, actual.get(key), traces[:1])
    for name, value in (expect.get("variables") or {}).items():
        assert traces[0]["variables"].get(name) == value, (name, traces[0]["variables"])


@pytest.mark.parametrize("case", CASES, ids=[f"{c['file']}:{c['name']}" for c in CASES])
async def test_corpus_case(kit, case):
    start = case.get("start")
    clock = ManualClock(start=dt.datetime.fromisoformat(start).replace(
        tzinfo=dt.UTC).timestamp()) if start else ManualClock()
    harness = await kit.hub(case["automations"], players=case.get("players", 3), clock=clock)
    watched = AUTOMATIONS_SCHEMA(case["automations"][:1])[0]["id"]
    assert harness.hub.automations.automations[watched].problems == []
    await quiet(harness)
    for step in case.get("steps") or []:
        await run_step(harness, step, watched)
    check(harness, case.get("expect") or {}, watched)
