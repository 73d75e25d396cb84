"""Real, unmodified SoCo against the emulator: what the plugin relies on must hold here."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
import requests
import soco
from aiohttp.test_utils import unused_port
from hub_sonos.testing import Household
from hub_sonos.testing.emulator import main as emulator_main
from hub_sonos.testing.helpers import wait_for
from soco import events_asyncio
from soco.exceptions import SoCoUPnPException


def test_speaker_identity_and_description(household):
    speaker = household.speakers[0]
    device = soco.SoCo(speaker.ip)
    assert device.uid == speaker.uid
    assert device.player_name == "Living Room"
    assert device.household_id == household.household_id
    info = device.get_speaker_info(refresh=True)
    assert info["model_name"] == "Sonos One" and info["software_version"]
    assert info["mac_address"] == speaker.mac.replace(":", "-")
    assert {z.uid for z in device.visible_zones} == {s.uid for s in household.speakers}


def test_transport_volume_and_play_modes(household):
    device = soco.SoCo(household.speakers[0].ip)
    device.play()
    assert device.get_current_transport_info()["current_transport_state"] == "PLAYING"
    device.pause()
    assert device.get_current_transport_info()["current_transport_state"] == "PAUSED_PLAYBACK"
    device.next()
    assert device.get_current_track_info()["title"] == "So What"
    device.previous()
    device.seek("0:02:03")
    track = device.get_current_track_info()
    assert (track["title"], track["position"]) == ("Blue in Green", "0:02:03")
    device.volume = 42
    assert device.volume == 42
    assert device.set_relative_volume(-2) == 40
    device.mute = True
    assert device.mute is True
    device.shuffle = True
    device.repeat = "ONE"
    assert device.play_mode == "SHUFFLE_REPEAT_ONE"
    device.stop()
    assert device.get_current_transport_info()["current_transport_state"] == "STOPPED"


def test_play_uri_and_queue(household):
    device = soco.SoCo(household.speakers[0].ip)
    device.play_uri("http://radio.invalid/stream.mp3", title="Radio One")
    assert device.get_current_track_info()["title"] == "Radio One"
    device.clear_queue()
    assert device.add_uri_to_queue("http://files.invalid/a.mp3") == 1
    assert device.add_uri_to_queue("http://files.invalid/b.mp3") == 2
    device.play_from_queue(1)
    assert device.get_current_track_info()["uri"] == "http://files.invalid/b.mp3"


def test_join_unjoin_and_group_volume_share_one_topology(household):
    a, b, c = (soco.SoCo(s.ip) for s in household.speakers)
    b.join(a)
    c.join(b)  # joining a member joins its coordinator's group
    assert [s.uid for s in household.groups[0]] == [a.uid, b.uid, c.uid]
    assert a.is_coordinator and not b.is_coordinator
    assert {m.uid for m in a.group.members} == {a.uid, b.uid, c.uid}
    for device, volume in ((a, 10), (b, 20), (c, 30)):
        device.volume = volume
    a.group.volume = 40
    assert a.group.volume == 40
    assert a.volume < b.volume < c.volume  # relative levels kept, like real speakers
    b.unjoin()
    assert b.is_coordinator
    assert len(household.groups) == 2


def test_upnp_fault_and_offline_speaker(household):
    speaker = household.speakers[0]
    device = soco.SoCo(speaker.ip)
    speaker.fail("Play", 701)
    with pytest.raises(SoCoUPnPException) as err:
        device.play()
    assert err.value.error_code == "701"
    speaker.clear_faults()
    device.play()
    speaker.go_offline()
    with pytest.raises(requests.ConnectionError):
        device.volume  # noqa: B018 (the property does the request)
    other = soco.SoCo(household.speakers[1].ip)
    other.zone_group_state.clear_cache()  # SoCo caches the topology for 5 s
    assert speaker.uid not in {z.uid for z in other.all_zones}
    speaker.go_online()
    assert device.volume == 20


def test_one_address_several_ports(household_factory):
    household = household_factory(2, ports=True, port=unused_port())
    first, second = household.speakers
    assert first.ip == second.ip and second.port == first.port + 1
    device = soco.SoCo(first.ip, first.port)
    zones = {(z.ip_address, z.port) for z in device.all_zones}
    assert zones == {(first.ip, first.port), (second.ip, second.port)}
    soco.SoCo(second.ip, second.port).volume = 55
    assert second.volume == 55


def test_network_scan_finds_the_household_on_loopback(household):
    network = household.speakers[0].ip.rsplit(".", 1)[0] + ".0/29"
    found = soco.discovery.scan_network(networks_to_scan=[network], scan_timeout=0.5)
    assert {d.uid for d in found} == {s.uid for s in household.speakers}


async def test_subscribe_notify_renew_unsubscribe():
    household = Household(1, host=_block(), max_subscription_timeout=2).start()
    saved = soco.config.EVENTS_MODULE
    soco.config.EVENTS_MODULE = events_asyncio
    events_asyncio.event_listener = events_asyncio.EventListener()
    events_asyncio.event_listener.requested_port_number = unused_port()
    try:
        async with asyncio.timeout(20):  # every step below is bounded
            await _subscribe_round_trip(household)
    finally:
        await asyncio.wait_for(events_asyncio.event_listener.async_stop(), 10)
        soco.config.EVENTS_MODULE = saved
        household.stop()


async def _subscribe_round_trip(household: Household) -> None:
    speaker = household.speakers[0]
    device = soco.SoCo(speaker.ip)
    await asyncio.to_thread(lambda: device.household_id)
    received: list = []
    sub = await device.renderingControl.subscribe(auto_renew=True)
    sub.callback = received.append
    await wait_for(lambda: received)  # the initial event carries the full state
    assert received[0].variables["volume"]["Master"] == "20"
    await asyncio.to_thread(setattr, device, "volume", 33)
    await wait_for(lambda: any(e.variables["volume"]["Master"] == "33" for e in received))
    # SoCo renews at 85 % of the 2 s the speaker granted.
    await wait_for(lambda: household.renewals >= 1, timeout=4)
    await sub.unsubscribe()
    await wait_for(lambda: not speaker.subscriptions)


def _block() -> str:
    from hub_sonos.testing import free_loopback_block

    return free_loopback_block(1)


def test_command_line_runs_and_stops(capsys):
    from hub_sonos.testing import free_loopback_block

    host = free_loopback_block(2)
    assert emulator_main(["--speakers", "2", "--host", host, "--duration", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "ready" in out and f"{host}" in out


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "hub_sonos.testing.emulator", "--help"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "--speakers" in result.stdout
