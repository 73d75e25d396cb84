"""Governance decides on an action's whole blast radius: every device it changes (issue 8,
item 2). The group bypass: a device no one may change cannot be reached through a group."""

from __future__ import annotations

import pytest

from hub.plugin import Device, PluginInfo, hookimpl, standard_actions

RULE = {"device": "demo.player_1", "require": "NOBODY", "reason": "the baby sleeps"}


async def _newest(harness, limit: int = 1) -> list[dict]:
    return await harness.hub.audit.query(limit=limit)


async def test_the_group_bypass_is_denied(hub_factory):
    harness = await hub_factory({"plugins": {"demo": {"players": 3}},
                                 "governance": {"rules": [RULE]}}, only=["demo"])
    agent = await harness.token("helper", maturity="SUPERVISED")
    assert (await harness.act("demo.player_3", "play", token=agent))[0] == 200

    status, body = await harness.act("demo.player_1", "pause", token=agent)
    assert status == 403
    status, body = await harness.act("demo.player_2", "join", {"leader": "demo.player_1"},
                                     token=agent)
    assert status == 403, body
    assert "demo.player_1" in body["error"]["message"]
    assert "the baby sleeps" in body["error"]["message"]
    player_2 = await harness.device("demo.player_2")
    assert player_2["attributes"]["group_members"] == ["demo.player_2"]
    denied = (await _newest(harness))[0]
    assert denied["decision"] == "deny" and denied["device"] == "demo.player_2"
    assert denied["affected"] == ["demo.player_2", "demo.player_1"]

    # Grouped before the rule existed: a transport action on the member is denied too.
    harness.hub.governance.load({})
    assert (await harness.act("demo.player_1", "play"))[0] == 200
    assert (await harness.act("demo.player_2", "join", {"leader": "demo.player_1"}))[0] == 200
    harness.hub.governance.load({"rules": [{**RULE, "device": ["demo.player_1"]}]})
    status, body = await harness.act("demo.player_2", "pause", token=agent)
    assert status == 403 and "also changes demo.player_1" in body["error"]["message"]
    assert (await harness.device("demo.player_1"))["state"] == "playing"
    # The catalog tells the agent before it tries.
    _, catalog = await harness.get("/actions/catalog?device=demo.player_2", token=agent)
    allowed = {a["name"]: a["allowed"] for a in catalog["devices"][0]["actions"]}
    assert allowed["pause"] is False and allowed["volume_set"] is True
    # What changes only the member itself stays allowed.
    status, body = await harness.act("demo.player_2", "volume_set", {"volume": 10},
                                     token=agent)
    assert status == 200 and "affected" not in body


async def test_an_allowed_group_action_lists_every_affected_device(hub_factory):
    harness = await hub_factory({"plugins": {"demo": {"players": 3}}}, only=["demo"])
    assert (await harness.act("demo.player_1", "join",
                              {"group_members": ["demo.player_2", "demo.player_3"]}))[0] == 200
    status, body = await harness.act("demo.player_3", "pause")
    assert status == 200
    assert body["affected"] == ["demo.player_3", "demo.player_1", "demo.player_2"]
    outcome, decision = await harness.hub.audit.query(correlation_id=body["correlation_id"])
    assert decision["affected"] == outcome["affected"]
    assert "also allowed on demo.player_1, demo.player_2" in decision["reason"]


class Grouped:
    """No affected_devices hook: the core derives the radius from `group_members`; with
    `answer` set, the hook answers that (junk included)."""

    def __init__(self, answer=None) -> None:
        self.answer = answer
        self.acted: list[str] = []

    @hookimpl
    def describe(self):
        return PluginInfo(actions=standard_actions("pause", "volume_set"))

    @hookimpl
    def discover(self, ctx):
        members = ["grp.a", "grp.b"]
        return [Device(id=i, name=i, actions=frozenset({"pause", "volume_set"}),
                       attributes={"group_members": members}) for i in members]

    @hookimpl
    def act(self, ctx, device, action, params):
        self.acted.append(device.id)


class Declaring(Grouped):
    @hookimpl
    def affected_devices(self, ctx, device, action, params):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_the_core_derives_the_radius_from_group_members(hub_factory):
    plugin = Grouped()
    harness = await hub_factory({"plugins": {"grp": {}},
                                 "governance": {"rules": [{"device": "grp.a",
                                                           "require": "NOBODY"}]}},
                                only=[], extra_plugins={"grp": plugin})
    status, body = await harness.act("grp.b", "pause")
    assert status == 403 and "grp.a" in body["error"]["message"]
    assert (await harness.act("grp.b", "volume_set", {"volume": 3}))[0] == 200
    assert plugin.acted == ["grp.b"]


@pytest.mark.parametrize("answer", ["grp.a", [1, 2], {"grp.a": 1}, 42, [""],
                                    RuntimeError("state lost")])
async def test_a_plugin_answering_junk_refuses_the_action(hub_factory, answer):
    plugin = Declaring(answer)
    harness = await hub_factory({"plugins": {"grp": {}}}, only=[],
                                extra_plugins={"grp": plugin})
    status, body = await harness.act("grp.a", "pause")
    assert status == 502, body
    assert body["error"]["code"] == "plugin_error"
    assert "could not say which devices" in body["error"]["message"]
    assert plugin.acted == []
    refused = (await _newest(harness))[0]
    assert (refused["record"], refused["decision"]) == ("decision", "error")


async def test_a_plugin_may_declare_a_wider_radius(hub_factory):
    plugin = Declaring(["grp.b", "other.speaker"])
    harness = await hub_factory({"plugins": {"grp": {}},
                                 "governance": {"rules": [{"device": "other.*",
                                                           "require": "OWNER"}]}},
                                only=[], extra_plugins={"grp": plugin})
    agent = await harness.token("helper", maturity="AUTONOMOUS")
    status, body = await harness.act("grp.a", "volume_set", {"volume": 1}, token=agent)
    assert status == 403 and "other.speaker" in body["error"]["message"]
    status, body = await harness.act("grp.a", "volume_set", {"volume": 1})
    assert body["affected"] == ["grp.a", "grp.b", "other.speaker"]
