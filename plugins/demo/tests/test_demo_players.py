"""The demo players: playlist, position advancing with (test-controlled) time, modes, groups."""

from __future__ import annotations

import pytest

from hub.testing import ManualClock


@pytest.fixture
async def demo(hub_factory):
    clock = ManualClock()
    harness = await hub_factory({"plugins": {"demo": {"players": 3}}}, only=["demo"],
                                clock=clock)
    return harness


async def ok(harness, device, action, params=None):
    status, body = await harness.act(device, action, params)
    assert status == 200, body
    return body["state"]


async def test_players_from_config(hub_factory):
    harness = await hub_factory({"plugins": {"demo": {"players": ["Den", "Den", "Loft"]}}},
                                only=["demo"])
    _, body = await harness.get("/devices")
    assert [(d["id"], d["name"]) for d in body["devices"]] == [
        ("demo.den", "Den"), ("demo.den_2", "Den"), ("demo.loft", "Loft")]


async def test_position_advances_with_time_and_tracks_follow(demo):
    clock = demo.clock
    state = await ok(demo, "demo.player_1", "play")
    assert state["state"] == "playing"
    assert state["attributes"]["media_title"] == "Morning Light"  # 214 s long
    await clock.advance(100)
    state = await ok(demo, "demo.player_1", "pause")
    assert state["attributes"]["media_position"] == pytest.approx(100, abs=0.01)
    state = await ok(demo, "demo.player_1", "play")
    await clock.advance(120)  # past the end of the first track
    state = await demo.device("demo.player_1")
    attrs = state["attributes"]
    assert attrs["media_title"] == "Paper Boats"
    now_position = attrs["media_position"] + clock.time() - attrs["media_position_updated_at"]
    assert now_position == pytest.approx(6, abs=0.1)
    state = await ok(demo, "demo.player_1", "pause")
    await clock.advance(1000)
    state = await demo.device("demo.player_1")
    assert state["state"] == "paused"
    assert state["attributes"]["media_title"] == "Paper Boats"


async def test_repeat_one_and_end_of_playlist(demo):
    await ok(demo, "demo.player_1", "play_media",
             {"media_id": "http://radio.example/song.mp3", "enqueue": "replace"})
    await ok(demo, "demo.player_1", "repeat_set", {"repeat": "one"})
    await demo.clock.advance(185)
    state = await demo.device("demo.player_1")
    assert state["state"] == "playing" and state["attributes"]["media_title"] == "song.mp3"
    await ok(demo, "demo.player_1", "repeat_set", {"repeat": "off"})
    await demo.clock.advance(200)
    state = await demo.device("demo.player_1")
    assert state["state"] == "idle"


async def test_transport_and_modes(demo):
    d = "demo.player_2"
    await ok(demo, d, "play")
    state = await ok(demo, d, "next")
    assert state["attributes"]["media_title"] == "Paper Boats"
    state = await ok(demo, d, "previous")
    assert state["attributes"]["media_title"] == "Morning Light"
    state = await ok(demo, d, "seek", {"position": 42})
    assert state["attributes"]["media_position"] == 42
    status, body = await demo.act(d, "seek", {"position": 9999})
    assert status == 400 and "beyond" in body["error"]["message"]
    state = await ok(demo, d, "volume_step", {"step": -50})
    assert state["attributes"]["volume"] == 0
    state = await ok(demo, d, "mute", {"muted": True})
    assert state["attributes"]["muted"] is True
    state = await ok(demo, d, "shuffle_set", {"shuffle": True})
    assert state["attributes"]["shuffle"] is True
    state = await ok(demo, d, "select_source", {"source": "radio"})
    assert state["attributes"]["source"] == "Radio"
    status, body = await demo.act(d, "select_source", {"source": "Vinyl"})
    assert status == 400 and body["error"]["source_list"]
    state = await ok(demo, d, "stop")
    assert state["state"] == "idle"


async def test_enqueue_modes(demo):
    d = "demo.player_3"
    state = await ok(demo, d, "play_media", {"media_id": "demo:track:4", "enqueue": "add"})
    assert state["attributes"]["queue_length"] == 8 and state["state"] == "idle"
    state = await ok(demo, d, "play_media", {"media_id": "demo:track:5", "enqueue": "next"})
    assert state["attributes"]["queue_length"] == 9
    state = await ok(demo, d, "play_media", {"media_id": "demo:track:8"})
    assert state["state"] == "playing" and state["attributes"]["media_title"] == "Focus Field"


async def test_grouping_mirrors_the_leader(demo):
    state = await ok(demo, "demo.player_1", "join",
                     {"group_members": ["demo.player_2", "demo.player_3"]})
    assert state["attributes"]["group_members"] == [
        "demo.player_1", "demo.player_2", "demo.player_3"]
    # A transport action on a member runs on the leader and reaches the whole group.
    await ok(demo, "demo.player_3", "play")
    for device in ("demo.player_1", "demo.player_2", "demo.player_3"):
        state = await demo.device(device)
        assert state["state"] == "playing", device
    # Volume stays per player.
    await ok(demo, "demo.player_2", "volume_set", {"volume": 77})
    assert (await demo.device("demo.player_1"))["attributes"]["volume"] == 30
    state = await ok(demo, "demo.player_2", "unjoin")
    assert state["attributes"]["group_members"] == ["demo.player_2"]
    assert state["state"] == "idle"
    leader = await demo.device("demo.player_1")
    assert leader["attributes"]["group_members"] == ["demo.player_1", "demo.player_3"]
    state = await ok(demo, "demo.player_2", "join", {"leader": "demo.player_3"})
    assert state["attributes"]["group_leader"] == "demo.player_1"
    status, body = await demo.act("demo.player_1", "join", {"group_members": ["sonos.x"]})
    assert status == 400
    status, body = await demo.act("demo.player_1", "join", {})
    assert status == 400 and body["error"]["code"] == "invalid_params"


async def test_every_change_is_a_state_changed_event(demo):
    sub = demo.hub.bus.subscribe(types=["state_changed"], devices=["demo.player_1"])
    await ok(demo, "demo.player_1", "volume_set", {"volume": 55})
    event = sub.get_nowait()
    assert event.data["old_state"]["attributes"]["volume"] == 30
    assert event.data["new_state"]["attributes"]["volume"] == 55
    await ok(demo, "demo.player_1", "volume_set", {"volume": 55})
    assert sub.get_nowait() is None  # nothing changed, nothing published
    sub.close()
