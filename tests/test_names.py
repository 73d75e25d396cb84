"""Devices by name: ranking (`GET /devices?match=`, WS `get_devices`), and `name:...` wherever
a device id is accepted (REST, WS, the pipeline, the media library, automations), with 409 for
an ambiguous name and 404 with the closest devices for an unknown one."""

from __future__ import annotations

import asyncio
import json

import pytest

from hub import names
from hub.errors import Conflict, NotFound
from hub.plugin import Device, PluginInfo, hookimpl, standard_actions
from hub.testing import ManualClock

RECEIVE_TIMEOUT = 5.0  # real seconds; reached only when a test is about to fail

# (id suffix, name, area): a household as people name it.
HOUSEHOLD = [
    ("living", "Living Room", "Living Room"),
    ("kitchen", "Kitchen", "Kitchen"),
    ("bob", "Bob\u2019s iPhone", None),
    ("tv", "Living Room TV", "Living Room"),
    ("arc", "Sonos Arc", "Den"),
    ("cafe", "Café Corner", "Kitchen"),
    ("office_a", "Office", "Office"),
    ("office_b", "Office", "Upstairs"),
]


def household(plugin: str = "rooms") -> list[Device]:
    return [Device(id=f"{plugin}.{suffix}", name=name, info={"area": area} if area else {},
                   actions=frozenset({"play", "pause", "volume_set"}))
            for suffix, name, area in HOUSEHOLD]


class Rooms:
    """The household as a plugin whose devices play and pause."""

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo(actions=standard_actions("play", "pause", "volume_set"))

    @hookimpl
    def discover(self, ctx):
        return household(ctx.name)

    @hookimpl
    def act(self, ctx, device, action, params):
        ctx.update_device(device.id, state="playing" if action == "play" else "paused")


def top(text: str) -> list[str]:
    return [m.device.name for m in names.rank(household(), text)]


def test_words_fold_case_accents_apostrophes_and_filler():
    assert names.words("The Living Room Speaker") == ("living", "room")
    assert names.words("Bob\u2019s iPhone") == names.words("bobs IPHONE") == ("bobs", "iphone")
    assert names.words("Café") == names.words("CAFE") == ("cafe",)
    assert names.words("The Speaker") == ("the", "speaker")  # nothing but filler: kept
    assert names.words("") == ()


@pytest.mark.parametrize(("text", "first"), [
    ("living room", "Living Room"),
    ("room living", "Living Room"),
    ("the living room speaker", "Living Room"),
    ("LIVING ROOM tv", "Living Room TV"),
    ("tv", "Living Room TV"),
    ("bobs iphone", "Bob\u2019s iPhone"),
    ("Bob's iPhone", "Bob\u2019s iPhone"),
    ("bob iphone", "Bob\u2019s iPhone"),
    ("kitchn", "Kitchen"),
    ("cafe", "Café Corner"),
    ("den", "Sonos Arc"),  # its area
    ("rooms.arc", "Sonos Arc"),  # its id
])
def test_rank(text, first):
    assert top(text)[0] == first


def test_rank_orders_closer_names_first_and_drops_the_rest():
    assert top("living room")[:2] == ["Living Room", "Living Room TV"]
    assert top("zzz qqq") == []
    assert top("") == []


@pytest.mark.parametrize(("ref", "resolved"), [
    ("name:Living Room", "rooms.living"),
    ("name:the living room speaker", "rooms.living"),
    ("name:room living", "rooms.living"),
    ("NAME:living room tv", "rooms.tv"),
    ("name:TV", "rooms.tv"),  # the only name holding every word
    ("name:bobs iphone", "rooms.bob"),
    ("name:Bob's iPhone", "rooms.bob"),
    ("name:kitchen", "rooms.kitchen"),  # the name wins over Café Corner's area
    ("name:den", "rooms.arc"),  # by area
    ("name:upstairs", "rooms.office_b"),
    ("name:cafe", "rooms.cafe"),
    ("rooms.kitchen", "rooms.kitchen"),
])
def test_resolve(ref, resolved):
    assert names.resolve(household(), ref).id == resolved


def test_ambiguous_and_unknown_names():
    with pytest.raises(Conflict) as ambiguous:
        names.resolve(household(), "name:office")
    err = ambiguous.value
    assert err.status == 409 and err.code == "ambiguous_device"
    assert {c["id"] for c in err.extra["candidates"]} == {"rooms.office_a", "rooms.office_b"}
    with pytest.raises(Conflict) as ambiguous:
        names.resolve(household(), "name:living")  # both living room devices contain it
    assert [c["name"] for c in ambiguous.value.extra["candidates"]] == [
        "Living Room", "Living Room TV"]

    for ref, closest in (("name:kitchn", "rooms.kitchen"), ("rooms.kitchn", "rooms.kitchen"),
                         ("name:Living Rom", "rooms.living"), ("name:bob phone", "rooms.bob")):
        with pytest.raises(NotFound) as unknown:
            names.resolve(household(), ref)
        err = unknown.value
        assert err.status == 404 and err.code == "unknown_device", ref
        assert err.extra["candidates"][0]["id"] == closest, (ref, err.extra)
        assert "did you mean" in err.message
    for ref in ("name:garage", "name:", "name:   ", "name:" + "x" * 5000, "name:\ud800",
                "name:Kitchen\ud800", "name:Kitchen\n", "", "x" * 5000):
        with pytest.raises(NotFound) as unknown:
            names.resolve(household(), ref)
        json.dumps(unknown.value.as_dict())  # the answer can always be sent


async def _hub(hub_factory, **kwargs):
    return await hub_factory(
        {"plugins": {"rooms": {}, "demo": {"players": ["Patio"]}}}, only=["rooms", "demo"],
        extra_plugins={"rooms": Rooms()}, **kwargs)


async def test_rest_takes_names_and_ranks_devices(hub_factory):
    harness = await _hub(hub_factory)
    _, body = await harness.get("/devices?match=the living room speaker")
    ranked = [(d["id"], d["match"]["field"]) for d in body["devices"]]
    assert ranked[:2] == [("rooms.living", "name"), ("rooms.tv", "area")]
    assert body["devices"][0]["match"]["score"] == 1.0
    _, body = await harness.get("/devices?match=patio&plugin=demo")
    assert [d["id"] for d in body["devices"]] == ["demo.patio"]
    _, body = await harness.get("/devices?match=")
    assert len(body["devices"]) == len(HOUSEHOLD) + 1
    status, body = await harness.get("/devices?match=" + "x" * 300)
    assert status == 400 and body["error"]["field"] == "match"

    status, body = await harness.get("/devices/name:Living%20Room")
    assert status == 200 and body["id"] == "rooms.living"
    status, body = await harness.get("/devices/name:living")
    assert status == 409 and body["error"]["code"] == "ambiguous_device"
    assert len(body["error"]["candidates"]) == 2
    status, body = await harness.get("/devices/rooms.kitchn")
    assert status == 404 and body["error"]["candidates"][0]["name"] == "Kitchen"

    status, body = await harness.get("/actions/catalog?device=name:Sonos Arc")
    assert status == 200 and [d["device"] for d in body["devices"]] == ["rooms.arc"]
    status, body = await harness.get("/media/browse?device=name:patio")
    assert status == 200 and body["item"]["plugin"] == "demo"


async def test_actions_by_name_are_audited_with_the_resolved_id(hub_factory):
    harness = await _hub(hub_factory)
    status, body = await harness.act("name:Kitchen", "play")
    assert status == 200 and body["device"] == "rooms.kitchen"
    assert body["state"]["state"] == "playing"
    _, audit = await harness.get(f"/audit?correlation_id={body['correlation_id']}")
    assert {r["device"] for r in audit["records"]} == {"rooms.kitchen"}
    assert {r["context"]["device_asked"] for r in audit["records"]} == {"name:Kitchen"}

    status, body = await harness.act("name:office", "pause")
    assert status == 409 and body["error"]["code"] == "ambiguous_device"
    status, body = await harness.act("name:garage", "pause")
    assert status == 404 and body["error"]["code"] == "unknown_device"
    _, audit = await harness.get("/audit?limit=2")
    assert [(r["device"], r["decision"]) for r in audit["records"]] == [
        ("name:garage", "invalid"), ("name:office", "invalid")]


async def test_websocket_takes_names(hub_factory):
    harness = await _hub(hub_factory)
    ws = await harness.client.ws_connect("/ws")
    await ws.receive_json(timeout=RECEIVE_TIMEOUT)
    await ws.send_json({"type": "auth", "access_token": harness.owner_token})
    assert (await ws.receive_json(timeout=RECEIVE_TIMEOUT))["type"] == "auth_ok"
    pending: list[dict] = []

    async def call(msg_id: int, **fields) -> dict:
        await ws.send_json({"id": msg_id, **fields})
        while True:
            msg = await ws.receive_json(timeout=RECEIVE_TIMEOUT)
            if msg["type"] == "result" and msg["id"] == msg_id:
                return msg
            pending.append(msg)

    got = await call(1, type="get_devices", match="bobs phone")
    assert got["result"][0]["id"] == "rooms.bob" and "match" in got["result"][0]
    got = await call(2, type="get_devices", plugin="demo")
    assert [d["id"] for d in got["result"]] == ["demo.patio"]
    got = await call(3, type="get_devices", match=7)
    assert got["error"]["code"] == "invalid_request"
    got = await call(4, type="get_device", device_id="name:sonos arc")
    assert got["result"]["id"] == "rooms.arc"
    got = await call(5, type="get_device", device_id="name:office")
    assert got["error"]["code"] == "ambiguous_device"
    got = await call(6, type="subscribe", event_types=["state_changed"],
                     devices=["name:Living Room TV"])
    assert got["success"]
    got = await call(7, type="act", device="name:living room tv", action="play")
    assert got["success"] and got["result"]["device"] == "rooms.tv"
    while not pending:
        pending.append(await ws.receive_json(timeout=RECEIVE_TIMEOUT))
    assert pending[0]["event"]["data"]["device_id"] == "rooms.tv"
    got = await call(8, type="subscribe", devices=["name:garage"])
    assert got["error"]["code"] == "unknown_device"
    await ws.close()


async def test_automations_act_on_devices_by_name(hub_factory):
    clock = ManualClock()
    harness = await hub_factory(
        {"plugins": {"rooms": {}},
         "automations": [{"id": "morning", "triggers": [{"trigger": "interval", "every": 60}],
                          "actions": [{"device": "name:the kitchen speaker",
                                       "action": "play"}]}]},
        only=["rooms"], extra_plugins={"rooms": Rooms()}, clock=clock)
    await clock.advance(60)
    for _ in range(1000):  # the run does real I/O (the audit commit): poll, bounded
        if harness.hub.registry.get("rooms.kitchen").state == "playing":
            break
        await asyncio.sleep(0.005)
    assert harness.hub.registry.get("rooms.kitchen").state == "playing"
