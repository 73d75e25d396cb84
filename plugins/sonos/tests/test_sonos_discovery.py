"""Discovery through static hosts and a loopback network scan (never multicast); speakers that
vanish become unavailable and come back when seen again."""

from __future__ import annotations

from aiohttp.test_utils import unused_port
from hub_sonos.testing.helpers import dev, wait_device

from hub.testing import ManualClock


async def device_ids(harness) -> set[str]:
    status, body = await harness.get("/devices")
    assert status == 200
    return {d["id"] for d in body["devices"]}


async def test_one_static_host_reveals_the_household(household, sonos_hub):
    harness = await sonos_hub(household, hosts=[household.speakers[2].host])
    assert await device_ids(harness) == {dev(s) for s in household.speakers}


async def test_static_hosts_with_ports(household_factory, sonos_hub):
    household = household_factory(3, ports=True, port=unused_port())
    harness = await sonos_hub(household, hosts=[f"{household.speakers[0].ip}:"
                                                f"{household.speakers[0].port}"])
    assert await device_ids(harness) == {dev(s) for s in household.speakers}
    status, _ = await harness.act(dev(household.speakers[2]), "volume_set", {"volume": 9})
    assert status == 200 and household.speakers[2].volume == 9


async def test_network_scan_of_a_loopback_range(household, sonos_hub):
    network = household.speakers[0].ip.rsplit(".", 1)[0] + ".0/29"
    harness = await sonos_hub(household, hosts=[], scan_networks=[network])
    assert await device_ids(harness) == {dev(s) for s in household.speakers}


async def test_unreachable_static_host_is_reported_not_fatal(household, sonos_hub):
    harness = await sonos_hub(household, hosts=["127.0.0.1:9", household.speakers[0].host])
    assert await device_ids(harness) == {dev(s) for s in household.speakers}
    _, body = await harness.get("/plugins")
    details = next(p for p in body["plugins"] if p["name"] == "sonos")["details"]
    assert any("127.0.0.1:9" in e for e in details["discovery_errors"])


async def test_vanished_speaker_comes_back_on_rediscovery(household, sonos_hub):
    clock = ManualClock()
    harness = await sonos_hub(household, clock=clock, events=False, poll_interval=3600)
    gone = household.speakers[1]
    gone.go_offline()
    status, body = await harness.request("POST", "/discover", json={"plugin": "sonos"})
    assert status == 200, body
    device = await harness.device(dev(gone))
    assert device["state"] == "unavailable"
    assert device["unavailable_reason"] == "not seen by discovery"
    status, body = await harness.act(dev(gone), "play")
    assert status == 409

    gone.go_online()
    await clock.advance(60)  # the plugin's periodic rediscovery
    device = await wait_device(harness, dev(gone), lambda d: d["available"])
    assert device["state"] == "idle"
    status, body = await harness.act(dev(gone), "volume_set", {"volume": 31})
    assert status == 200 and gone.volume == 31


async def test_vanishing_seen_through_topology_events(household, sonos_hub):
    harness = await sonos_hub(household)
    gone = household.speakers[2]
    gone.go_offline()  # the others' ZoneGroupTopology events no longer list it
    device = await wait_device(harness, dev(gone), lambda d: not d["available"])
    assert "topology" in device["unavailable_reason"]
    gone.go_online()
    await wait_device(harness, dev(gone), lambda d: d["available"])
    gone.set_volume(77)  # subscribed again: the change arrives by event
    await wait_device(harness, dev(gone), lambda d: d["attributes"]["volume"] == 77)


async def test_a_speaker_missed_by_discovery_is_asked_before_it_is_called_gone(
        household, sonos_hub):
    a, b, c = household.speakers
    harness = await sonos_hub(household, hosts=[a.host], events=False, poll_interval=3600)
    a.go_offline()  # the only configured host: this round of discovery finds nobody
    status, _ = await harness.request("POST", "/discover", json={"plugin": "sonos"})
    assert status == 200
    assert not (await harness.device(dev(a)))["available"]
    for speaker in (b, c):  # still answering when asked directly
        assert (await harness.device(dev(speaker)))["available"]
    status, _ = await harness.act(dev(b), "volume_set", {"volume": 8})
    assert status == 200 and b.volume == 8
