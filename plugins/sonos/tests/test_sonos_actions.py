"""Every action through the hub's REST API, against emulated speakers driven by real SoCo."""

from __future__ import annotations

import pytest
from hub_sonos.testing.helpers import dev, wait_device


async def test_devices_named_by_room_with_model_and_group(household, sonos_hub):
    harness = await sonos_hub(household)
    status, body = await harness.get("/devices")
    assert status == 200
    devices = {d["id"]: d for d in body["devices"]}
    assert set(devices) == {dev(s) for s in household.speakers}
    living = devices[dev(household.speakers[0])]
    assert living["name"] == "Living Room"
    assert living["info"]["model"] == "Sonos One" and living["info"]["sw_version"]
    assert living["attributes"]["model"] == "Sonos One"
    assert living["attributes"]["group_members"] == [living["id"]]
    assert living["attributes"]["coordinator"] == living["id"]
    assert living["attributes"]["volume"] == 20
    assert living["attributes"]["media_title"] == "Blue in Green"
    assert living["state"] == "idle"


async def test_transport_actions(household, sonos_hub):
    harness = await sonos_hub(household)
    speaker = household.speakers[0]
    device = dev(speaker)
    status, body = await harness.act(device, "play")
    assert status == 200, body
    assert body["state"]["state"] == "playing" and speaker.transport_state == "PLAYING"
    status, body = await harness.act(device, "pause")
    assert body["state"]["state"] == "paused" and speaker.transport_state == "PAUSED_PLAYBACK"
    status, body = await harness.act(device, "next")
    assert status == 200 and body["state"]["attributes"]["media_title"] == "So What"
    status, body = await harness.act(device, "previous")
    assert body["state"]["attributes"]["media_title"] == "Blue in Green"
    status, body = await harness.act(device, "seek", {"position": 61.5})
    assert status == 200 and speaker.position == 61
    assert body["state"]["attributes"]["media_position"] == 61
    status, body = await harness.act(device, "stop")
    assert body["state"]["state"] == "idle" and speaker.transport_state == "STOPPED"


async def test_volume_and_mute(household, sonos_hub):
    harness = await sonos_hub(household)
    speaker = household.speakers[1]
    status, body = await harness.act(dev(speaker), "volume_set", {"volume": 35})
    assert status == 200 and speaker.volume == 35
    assert body["state"]["attributes"]["volume"] == 35
    status, body = await harness.act(dev(speaker), "volume_step", {"step": -5})
    assert speaker.volume == 30 and body["state"]["attributes"]["volume"] == 30
    status, body = await harness.act(dev(speaker), "mute", {"muted": True})
    assert speaker.muted and body["state"]["attributes"]["muted"] is True
    status, body = await harness.act(dev(speaker), "mute", {"muted": False})
    assert not speaker.muted


async def test_shuffle_and_repeat(household, sonos_hub):
    harness = await sonos_hub(household)
    speaker = household.speakers[0]
    status, body = await harness.act(dev(speaker), "shuffle_set", {"shuffle": True})
    assert status == 200 and speaker.play_mode == "SHUFFLE_NOREPEAT"
    assert body["state"]["attributes"]["shuffle"] is True
    status, body = await harness.act(dev(speaker), "repeat_set", {"repeat": "all"})
    assert speaker.play_mode == "SHUFFLE" and body["state"]["attributes"]["repeat"] == "all"
    await harness.act(dev(speaker), "repeat_set", {"repeat": "one"})
    assert speaker.play_mode == "SHUFFLE_REPEAT_ONE"
    await harness.act(dev(speaker), "shuffle_set", {"shuffle": False})
    status, body = await harness.act(dev(speaker), "repeat_set", {"repeat": "off"})
    assert status == 200 and speaker.play_mode == "NORMAL"
    # events of the earlier changes may still be in flight; the last one carries NORMAL
    await wait_device(harness, dev(speaker),
                      lambda d: (d["attributes"]["repeat"], d["attributes"]["shuffle"])
                      == ("off", False))


async def test_play_media_enqueue_modes(household, sonos_hub):
    harness = await sonos_hub(household)
    speaker = household.speakers[0]
    device = dev(speaker)
    status, body = await harness.act(device, "play_media",
                                     {"media_id": "http://radio.invalid/jazz.mp3"})
    assert status == 200, body
    assert speaker.transport_state == "PLAYING"
    assert speaker.current_track().uri == "http://radio.invalid/jazz.mp3"
    assert body["state"]["attributes"]["media_uri"] == "http://radio.invalid/jazz.mp3"
    status, body = await harness.act(device, "play_media", {
        "media_id": "http://files.invalid/one.mp3", "enqueue": "replace"})
    assert status == 200 and [t.uri for t in speaker.queue] == ["http://files.invalid/one.mp3"]
    assert speaker.direct is None and speaker.transport_state == "PLAYING"
    status, body = await harness.act(device, "play_media", {
        "media_id": "http://files.invalid/three.mp3", "enqueue": "add"})
    assert status == 200 and body["result"]["queue_position"] == 2
    status, body = await harness.act(device, "play_media", {
        "media_id": "http://files.invalid/two.mp3", "enqueue": "next"})
    assert status == 200 and body["result"]["queue_position"] == 2
    assert [t.uri.rsplit("/", 1)[1] for t in speaker.queue] == ["one.mp3", "two.mp3", "three.mp3"]


async def test_join_unjoin_and_coordinator_routing(household, sonos_hub):
    harness = await sonos_hub(household)
    a, b, c = household.speakers
    status, body = await harness.act(dev(b), "join", {"leader": dev(a)})
    assert status == 200, body
    assert [s.uid for s in household.groups[0]] == [a.uid, b.uid]
    assert body["state"]["attributes"]["group_members"] == [dev(a), dev(b)]
    assert body["state"]["attributes"]["coordinator"] == dev(a)
    leader = await harness.device(dev(a))
    assert leader["attributes"]["group_members"] == [dev(a), dev(b)]

    # play sent to the member runs on the coordinator, as Sonos requires
    status, body = await harness.act(dev(b), "play")
    assert status == 200 and body["result"]["coordinator"] == dev(a)
    assert a.transport_state == "PLAYING" and b.transport_state == "STOPPED"
    assert body["state"]["state"] == "playing"
    assert not [r for r in b.requests if r.action == "Play"]
    status, body = await harness.act(dev(b), "shuffle_set", {"shuffle": True})
    assert status == 200 and a.play_mode == "SHUFFLE_NOREPEAT"

    # group_members form: c joins a's group when asked on a member
    status, body = await harness.act(dev(b), "join", {"group_members": [dev(c)]})
    assert status == 200 and [s.uid for s in household.groups[0]] == [a.uid, b.uid, c.uid]
    await wait_device(harness, dev(c),
                      lambda d: d["attributes"]["group_members"] == [dev(a), dev(b), dev(c)])

    status, body = await harness.act(dev(b), "unjoin")
    assert status == 200, body
    assert body["state"]["attributes"]["group_members"] == [dev(b)]
    assert (await harness.device(dev(a)))["attributes"]["group_members"] == [dev(a), dev(c)]
    # now standalone, b plays on itself
    status, body = await harness.act(dev(b), "play")
    assert status == 200 and body["result"]["coordinator"] == dev(b)


async def test_join_rejects_bad_targets(household, sonos_hub):
    harness = await sonos_hub(household)
    a = household.speakers[0]
    status, body = await harness.act(dev(a), "join", {"leader": dev(a)})
    assert status == 400 and "itself" in body["error"]["message"]
    status, body = await harness.act(dev(a), "join", {"leader": "sonos.RINCON_NOPE"})
    assert status == 400, body
    status, body = await harness.act(dev(a), "join", {"leader": dev(a), "group_members": []})
    assert status == 400


async def test_group_volume_fans_out_to_every_member(household_factory, sonos_hub):
    household = household_factory(4, grouped=True)
    harness = await sonos_hub(household)
    household.reset_stats()
    member = household.speakers[2]
    status, body = await harness.act(dev(member), "group_volume_set", {"volume": 55})
    assert status == 200, body
    assert [s.volume for s in household.speakers] == [55, 55, 55, 55]
    assert sorted(body["result"]["speakers"]) == sorted(dev(s) for s in household.speakers)
    for speaker in household.speakers:
        assert (await harness.device(dev(speaker)))["attributes"]["volume"] == 55


async def test_pause_all_and_resume_all(household_factory, sonos_hub):
    household = household_factory(4)
    harness = await sonos_hub(household)
    a, b, c, d = household.speakers
    await harness.act(dev(b), "join", {"leader": dev(a)})
    await harness.act(dev(a), "play")
    await harness.act(dev(c), "play")
    status, body = await harness.act(dev(d), "pause_all")
    assert status == 200, body
    assert sorted(body["result"]["paused"]) == sorted([dev(a), dev(c)])
    assert a.transport_state == c.transport_state == "PAUSED_PLAYBACK"
    assert d.transport_state == "STOPPED"
    status, body = await harness.act(dev(d), "resume_all")
    assert status == 200 and sorted(body["result"]["resumed"]) == sorted([dev(a), dev(c)])
    assert a.transport_state == c.transport_state == "PLAYING"
    assert d.transport_state == "STOPPED"


@pytest.mark.parametrize("action,params", [
    ("volume_set", {"volume": 101}),
    ("volume_set", {"volume": "loud"}),
    ("volume_set", {}),
    ("seek", {"position": -1}),
    ("repeat_set", {"repeat": "sometimes"}),
    ("play_media", {"media_id": ""}),
    ("play_media", {"media_id": "x", "enqueue": "later"}),
    ("group_volume_set", {"volume": -3}),
    ("mute", {"muted": "perhaps"}),
    ("pause_all", {"unexpected": 1}),
])
async def test_bad_input_is_a_400_not_a_traceback(household_factory, sonos_hub, action, params):
    household = household_factory(1)
    harness = await sonos_hub(household)
    status, body = await harness.act(dev(household.speakers[0]), action, params)
    assert status == 400, body
    assert body["error"]["code"] and "Traceback" not in str(body)


async def test_seek_past_the_end_is_a_upnp_error(household, sonos_hub):
    harness = await sonos_hub(household)
    status, body = await harness.act(dev(household.speakers[0]), "seek", {"position": 9999})
    assert status == 502 and body["error"]["upnp_error"] == 711
