"""The governance gate: the whole matrix of principals x demo actions, rules, cache, audit."""

from __future__ import annotations

import pytest

from hub.maturity import Level

DEMO = {"plugins": {"demo": {"players": 3}}}

# Valid parameters for every demo action, so that only the gate decides.
PARAMS = {
    "play": {}, "pause": {}, "stop": {}, "next": {}, "previous": {},
    "seek": {"position": 1}, "volume_set": {"volume": 20}, "volume_step": {"step": 5},
    "mute": {"muted": True}, "shuffle_set": {"shuffle": True}, "repeat_set": {"repeat": "all"},
    "play_media": {"media_id": "demo:track:2"}, "select_source": {"source": "Radio"},
    "join": {"group_members": ["demo.player_2"]}, "unjoin": {}, "volume_get": {},
}
PRINCIPALS = ["STUDENT", "INTERN", "SUPERVISED", "AUTONOMOUS", "owner"]


def expected_allowed(principal: str, action: str) -> bool:
    if principal == "owner":
        return True
    required = Level.STUDENT if action == "volume_get" else Level.SUPERVISED
    return Level[principal] >= required


async def test_matrix_every_principal_times_every_demo_action_is_decided_and_audited(
        hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    _, body = await harness.get("/plugins")
    demo_actions = set(next(p for p in body["plugins"] if p["name"] == "demo")["actions"])
    assert demo_actions == set(PARAMS), "the matrix must cover every demo action"
    tokens = {"owner": harness.owner_token}
    for maturity in PRINCIPALS[:-1]:
        tokens[maturity] = await harness.token(f"agent-{maturity.lower()}", maturity=maturity)

    for principal, token in tokens.items():
        for action, params in PARAMS.items():
            status, body = await harness.act("demo.player_1", action, params, token=token)
            allowed = expected_allowed(principal, action)
            assert status == (200 if allowed else 403), (principal, action, body)
            if not allowed:
                err = body["error"]
                assert err["code"] == "forbidden"
                assert err["required"] == "SUPERVISED"
                assert err["maturity"] == principal
                assert "requires SUPERVISED" in err["message"]
            else:
                assert body["correlation_id"]
            # The decision is in the audit log, with who, what and why.
            _, audit = await harness.get(
                f"/audit?device=demo.player_1&principal="
                f"{'owner' if principal == 'owner' else 'agent-' + principal.lower()}&limit=2")
            decision = next(r for r in audit["records"] if r["record"] == "decision")
            assert decision["action"] == action
            assert decision["decision"] == ("allow" if allowed else "deny")
            assert decision["reason"]
            if allowed:
                outcome = audit["records"][0]
                assert outcome["record"] == "outcome"
                assert outcome["correlation_id"] == decision["correlation_id"]
                assert outcome["outcome"] == "ok"


async def test_reading_is_open_to_every_authenticated_principal(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    student = await harness.token("reader", maturity="STUDENT")
    for path in ("/devices", "/devices/demo.player_1", "/plugins", "/actions/catalog"):
        status, _ = await harness.get(path, token=student)
        assert status == 200, path
    status, body = await harness.get("/devices", token=None)
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    status, _ = await harness.get("/devices", token="hub_not-a-real-token")
    assert status == 401


async def test_administration_is_the_owners(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    boss = await harness.token("boss", maturity="AUTONOMOUS")
    for method, path, body in (("GET", "/audit", None), ("POST", "/discover", {}),
                               ("GET", "/tokens", None),
                               ("POST", "/tokens", {"name": "x", "kind": "agent"}),
                               ("DELETE", "/tokens/boss", None)):
        status, answer = await harness.request(method, path, token=boss, json=body)
        assert status == 403, (path, answer)
        assert answer["error"]["required"] == "OWNER"
    status, body = await harness.request("POST", "/discover", json={})
    assert status == 200
    _, audit = await harness.get("/audit?principal=boss")
    assert {r["action"] for r in audit["records"]} >= {"discover", "create_token",
                                                      "revoke_token"}
    assert all(r["decision"] == "deny" for r in audit["records"])


async def test_rules_lower_and_raise_requirements_first_match_wins(hub_factory):
    config = {
        **DEMO,
        "governance": {"rules": [
            {"plugin": "demo", "device": "demo.player_1", "action": ["volume_*"],
             "require": "INTERN", "reason": "volume is harmless here"},
            {"device": "demo.player_2", "action": "play", "require": "OWNER"},
            {"action": "stop", "principal": "night-*", "require": "NOBODY"},
            {"plugin": "demo", "action": "volume_set", "require": "AUTONOMOUS"},
        ]},
    }
    harness = await hub_factory(config, only=["demo"])
    intern = await harness.token("intern", maturity="INTERN")
    boss = await harness.token("boss", maturity="AUTONOMOUS")
    night = await harness.token("night-bot", maturity="AUTONOMOUS")

    status, _ = await harness.act("demo.player_1", "volume_set", {"volume": 5}, token=intern)
    assert status == 200  # lowered by rule 1
    status, body = await harness.act("demo.player_3", "volume_set", {"volume": 5}, token=intern)
    assert status == 403 and body["error"]["required"] == "AUTONOMOUS"  # raised by rule 4
    assert "rule #4" in body["error"]["message"]
    status, body = await harness.act("demo.player_2", "play", token=boss)
    assert status == 403 and body["error"]["required"] == "OWNER"
    status, _ = await harness.act("demo.player_2", "play")
    assert status == 200
    status, body = await harness.act("demo.player_1", "stop", token=night)
    assert status == 403 and body["error"]["required"] == "NOBODY"
    status, _ = await harness.act("demo.player_1", "stop", token=boss)
    assert status == 200


async def test_catalog_says_what_the_caller_may_do(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    intern = await harness.token("intern", maturity="INTERN")
    status, body = await harness.get("/actions/catalog?device=demo.player_1", token=intern)
    assert status == 200
    actions = {a["name"]: a for a in body["devices"][0]["actions"]}
    assert actions["volume_set"]["allowed"] is False
    assert actions["volume_set"]["required"] == "SUPERVISED"
    assert actions["volume_get"]["allowed"] is True
    schema = actions["volume_set"]["parameters"]
    assert schema["properties"]["volume"]["maximum"] == 100
    assert schema["required"] == ["volume"]


async def test_revoking_a_token_invalidates_cached_decisions_and_access(hub_factory):
    harness = await hub_factory(DEMO, only=["demo"])
    agent = await harness.token("agent", maturity="SUPERVISED")
    status, _ = await harness.act("demo.player_1", "play", token=agent)
    assert status == 200
    generation = harness.hub.governance.generation
    status, _ = await harness.request("DELETE", "/tokens/agent")
    assert status == 200
    assert harness.hub.governance.generation > generation
    status, _ = await harness.act("demo.player_1", "pause", token=agent)
    assert status == 401


async def test_policy_reload_applies_new_rules_and_keeps_the_old_on_error(tmp_path):
    from hub.app import Hub
    from hub.config import load_config
    from hub.errors import ConfigError
    from hub.maturity import Maturity
    from hub.model import Principal

    path = tmp_path / "hub.yaml"
    path.write_text("plugins:\n  demo:\n    players: 1\n")
    hub = Hub(load_config(path, data_dir=tmp_path / "d"), env={})
    intern = Principal("i", "intern", "agent", Maturity.INTERN)

    def allowed() -> bool:
        return hub.governance.decide(intern, "demo", "demo.player_1", "play",
                                     Level.SUPERVISED).allowed

    assert not allowed()
    path.write_text("plugins:\n  demo:\n    players: 1\ngovernance:\n  rules:\n"
                    "    - action: play\n      require: INTERN\n")
    await hub.reload_config()
    assert allowed()
    path.write_text("governance: {rules: [{require: WRONG}]}\n")
    with pytest.raises(ConfigError, match="WRONG"):
        await hub.reload_config()
    assert allowed()  # the running policy is kept when the new file is invalid
