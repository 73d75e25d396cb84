"""The WebSocket API: handshake, commands, act parity with REST, subscriptions, revocation and
slow consumers. A real in-process hub with the demo plugin, time driven by a ManualClock."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from hub import ws as ws_module
from hub.testing import ManualClock

RECEIVE_TIMEOUT = 5.0  # real seconds; only reached when a test is about to fail


async def _hub(hub_factory, players: int = 3, **config: Any):
    return await hub_factory({"plugins": {"demo": {"players": players}}, **config},
                             only=["demo"], clock=ManualClock())


async def _receive(ws) -> dict:
    msg = await ws.receive(timeout=RECEIVE_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def _connect(harness, token: str | None = None):
    ws = await harness.client.ws_connect("/ws")
    assert (await _receive(ws))["type"] == "auth_required"
    await ws.send_json({"type": "auth", "access_token": token or harness.owner_token})
    assert (await _receive(ws))["type"] == "auth_ok"
    return ws


class Client:
    """A connected client that numbers its commands and sets events aside."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []

    @classmethod
    async def connect(cls, harness, token: str | None = None) -> Client:
        return cls(await _connect(harness, token))

    async def send(self, type_: str, **fields: Any) -> int:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "type": type_, **fields})
        return self.next_id

    async def call(self, type_: str, **fields: Any) -> dict:
        return await self.result(await self.send(type_, **fields))

    async def result(self, msg_id: int) -> dict:
        while True:
            msg = await _receive(self.ws)
            if msg["type"] == "event":
                self.events.append(msg)
            elif msg.get("id") == msg_id:
                return msg

    async def event(self) -> dict:
        if self.events:
            return self.events.pop(0)
        msg = await _receive(self.ws)
        assert msg["type"] == "event", msg
        return msg


async def _until(condition, seconds: float = RECEIVE_TIMEOUT) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def _api(harness) -> ws_module.WebSocketApi:
    return harness.client.server.app[ws_module.WS_API]


# -- handshake and authentication -----------------------------------------------------------------


async def test_handshake_with_a_valid_token(hub_factory):
    harness = await _hub(hub_factory)
    ws = await harness.client.ws_connect("/ws")
    hello = await _receive(ws)
    assert hello["type"] == "auth_required" and "hub_version" in hello
    await ws.send_json({"type": "auth", "access_token": harness.owner_token})
    assert (await _receive(ws))["type"] == "auth_ok"
    client = Client(ws)
    assert await client.call("ping") == {"id": 1, "type": "result", "success": True,
                                         "result": "pong"}
    await ws.close()


@pytest.mark.parametrize("first", [
    {"type": "auth", "access_token": "not-a-token"},
    {"type": "auth"},
    {"id": 1, "type": "get_devices"},  # nothing but auth is accepted before auth
    "not json",
])
async def test_anything_but_a_valid_auth_gets_auth_invalid_and_closes(hub_factory, first):
    harness = await _hub(hub_factory)
    ws = await harness.client.ws_connect("/ws")
    assert (await _receive(ws))["type"] == "auth_required"
    await (ws.send_str(first) if isinstance(first, str) else ws.send_json(first))
    reply = await _receive(ws)
    assert reply["type"] == "auth_invalid" and reply["message"]
    closing = await ws.receive(timeout=RECEIVE_TIMEOUT)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.closed or closing.type == aiohttp.WSMsgType.CLOSE


async def test_ws_does_not_need_a_bearer_header_but_rest_still_does(hub_factory):
    harness = await _hub(hub_factory)
    status, body = await harness.get("/devices", token=None)
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    ws = await harness.client.ws_connect("/ws")  # no Authorization header
    assert (await _receive(ws))["type"] == "auth_required"
    await ws.close()


async def test_revoking_the_token_closes_its_sockets_only(hub_factory):
    harness = await _hub(hub_factory)
    token = await harness.token("dashboard", maturity="SUPERVISED")
    doomed = await Client.connect(harness, token)
    other = await Client.connect(harness)
    assert (await doomed.call("ping"))["success"]
    status, _ = await harness.request("DELETE", "/tokens/dashboard")
    assert status == 200
    msg = await doomed.ws.receive(timeout=RECEIVE_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION and msg.extra == "token revoked"
    assert (await other.call("ping"))["success"]
    # and the token no longer opens a socket
    ws = await harness.client.ws_connect("/ws")
    await _receive(ws)
    await ws.send_json({"type": "auth", "access_token": token})
    assert (await _receive(ws))["type"] == "auth_invalid"


# -- command framing and errors -------------------------------------------------------------------


async def test_malformed_messages_get_error_results_and_the_socket_survives(hub_factory):
    harness = await _hub(hub_factory)
    client = await Client.connect(harness)
    ws = client.ws

    await ws.send_str("{not json")
    reply = await _receive(ws)
    assert reply["id"] is None and reply["success"] is False
    assert reply["error"]["code"] == "invalid_json" and reply["error"]["message"]

    await ws.send_json([1, 2, 3])
    assert (await _receive(ws))["error"]["code"] == "invalid_format"

    await ws.send_json({"type": "ping"})  # no id
    assert (await _receive(ws))["error"]["code"] == "invalid_format"

    await ws.send_bytes(b"\x00\x01")
    assert (await _receive(ws))["error"]["code"] == "invalid_format"

    reply = await client.call("launch_rockets")
    assert reply["success"] is False and reply["error"]["code"] == "unknown_command"
    assert reply["type"] == "result" and reply["id"] == client.next_id

    assert (await client.call("ping"))["success"] is True


async def test_ids_must_increase_strictly(hub_factory):
    harness = await _hub(hub_factory)
    client = await Client.connect(harness)
    await client.ws.send_json({"id": 5, "type": "ping"})
    assert (await _receive(client.ws))["success"] is True
    for stale in (5, 3):
        await client.ws.send_json({"id": stale, "type": "ping"})
        reply = await _receive(client.ws)
        assert reply == {"id": stale, "type": "result", "success": False,
                         "error": reply["error"]}
        assert reply["error"]["code"] == "id_reuse"
    await client.ws.send_json({"id": 6, "type": "ping"})
    assert (await _receive(client.ws))["success"] is True


async def test_get_devices_and_get_device(hub_factory):
    harness = await _hub(hub_factory, players=2)
    client = await Client.connect(harness)
    reply = await client.call("get_devices")
    assert [d["id"] for d in reply["result"]] == ["demo.player_1", "demo.player_2"]
    status, rest = await harness.get("/devices")
    assert reply["result"] == rest["devices"]

    one = await client.call("get_device", device_id="demo.player_2")
    assert one["result"] == await harness.device("demo.player_2")

    missing = await client.call("get_device", device_id="demo.nope")
    status, rest = await harness.get("/devices/demo.nope")
    assert status == 404 and missing["success"] is False
    assert missing["error"] == rest["error"]

    bad = await client.call("get_device")
    assert bad["error"]["code"] == "invalid_request"


# -- act: the same pipeline as REST --------------------------------------------------------------


async def test_act_runs_the_pipeline_and_answers_like_rest(hub_factory):
    harness = await _hub(hub_factory)
    client = await Client.connect(harness)
    reply = await client.call("act", device="demo.player_1", action="play")
    assert reply["success"] is True
    result = reply["result"]
    assert result["device"] == "demo.player_1" and result["action"] == "play"
    assert result["state"]["state"] == "playing" and result["dry_run"] is False
    status, rest = await harness.act("demo.player_1", "pause")
    assert status == 200 and set(rest) == set(result)

    dry = await client.call("act", device="demo.player_1", action="play", dry_run=True)
    assert dry["result"]["dry_run"] is True
    assert dry["result"]["state"]["state"] == "paused"

    # audited with source "ws", under the same correlation id
    status, audit = await harness.get(f"/audit?correlation_id={result['correlation_id']}")
    assert {r["source"] for r in audit["records"]} == {"ws"}
    assert {r["record"] for r in audit["records"]} == {"decision", "outcome"}


@pytest.mark.parametrize("body", [
    {"device": "demo.player_1", "action": "volume_set", "params": {"volume": 150}},
    {"device": "demo.player_1", "action": "fly"},
    {"device": "demo.nope", "action": "play"},
    {"device": 7, "action": "play"},
    {"action": "play"},
    {"device": "demo.player_1", "action": "play", "params": [1]},
    {"device": "demo.player_1", "action": "play", "dry_run": "yes"},
    {"device": "demo.player_1", "action": "play", "colour": "red"},
    {"device": "demo.player_1", "action": "play", "as_agent": "intern"},  # denied, see below
])
async def test_act_errors_are_the_rest_errors(hub_factory, body):
    harness = await _hub(hub_factory)
    token = None
    if body.pop("as_agent", None):
        token = await harness.token("intern-bot", maturity="INTERN")
    client = await Client.connect(harness, token)
    reply = await client.call("act", **body)
    status, rest = await harness.request("POST", "/actions", token=token or True, json=body)
    assert status >= 400
    assert reply["success"] is False
    assert reply["error"] == rest["error"]
    if token:
        assert status == 403 and reply["error"]["code"] == "forbidden"
        assert reply["error"]["required"] == "SUPERVISED"


async def test_a_slow_action_does_not_hold_up_other_commands(hub_factory):
    clock = ManualClock()
    harness = await hub_factory({"plugins": {"demo": {"players": 1, "latency": 5}}},
                                only=["demo"], clock=clock)
    client = await Client.connect(harness)
    act_id = await client.send("act", device="demo.player_1", action="play")
    assert (await client.call("ping"))["success"] is True  # answered while the act waits
    await _until(lambda: clock.sleepers > 0)  # the audit write before dispatch is real I/O
    await clock.advance(5)
    reply = await client.result(act_id)
    assert reply["success"] is True and reply["result"]["state"]["state"] == "playing"


# -- subscriptions ----------------------------------------------------------------------------


async def test_subscribe_delivers_state_changes_with_the_subscription_id(hub_factory):
    harness = await _hub(hub_factory)
    client = await Client.connect(harness)
    sub = await client.call("subscribe", event_types=["state_changed"])
    assert sub == {"id": 1, "type": "result", "success": True, "result": None}
    await harness.act("demo.player_1", "play")  # over REST
    event = await client.event()
    assert event["id"] == 1 and event["type"] == "event"
    body = event["event"]
    assert body["type"] == "state_changed" and isinstance(body["time"], float)
    assert body["data"]["device_id"] == "demo.player_1"
    assert body["data"]["old_state"]["state"] != "playing"
    assert body["data"]["new_state"]["state"] == "playing"


async def test_device_filter_and_event_type_filter(hub_factory):
    harness = await _hub(hub_factory)
    client = await Client.connect(harness)
    await client.call("subscribe", event_types=["action"], devices=["demo.player_2"])
    await harness.act("demo.player_1", "play")
    await harness.act("demo.player_2", "play")
    event = await client.event()
    assert event["event"]["type"] == "action"
    assert event["event"]["data"]["device_id"] == "demo.player_2"
    assert event["event"]["data"]["outcome"] == "ok"
    # nothing about player_1, and no state_changed
    assert (await client.call("ping"))["success"] and client.events == []


async def test_all_types_by_default_and_several_subscriptions(hub_factory):
    harness = await _hub(hub_factory)
    client = await Client.connect(harness)
    everything = (await client.call("subscribe"))["id"]
    only_state = (await client.call("subscribe", event_type="state_changed"))["id"]
    await client.call("act", device="demo.player_3", action="play")
    await client.call("ping")
    by_sub: dict[int, set] = {}
    for event in client.events:
        by_sub.setdefault(event["id"], set()).add(event["event"]["type"])
    assert by_sub == {everything: {"state_changed", "action"}, only_state: {"state_changed"}}


async def test_unsubscribe_stops_delivery(hub_factory):
    harness = await _hub(hub_factory)
    client = await Client.connect(harness)
    sub_id = (await client.call("subscribe"))["id"]
    assert (await client.call("unsubscribe", subscription=sub_id))["success"] is True
    await harness.act("demo.player_1", "play")
    await client.call("ping")
    assert client.events == []
    again = await client.call("unsubscribe", subscription=sub_id)
    assert again["success"] is False and again["error"]["code"] == "not_found"


@pytest.mark.parametrize("fields", [
    {"event_types": ["state_changed", "bogus"]},
    {"event_types": []},
    {"event_types": ["audit_record"]},  # not an event type
    {"devices": [1]},
])
async def test_bad_subscriptions_are_refused(hub_factory, fields):
    harness = await _hub(hub_factory)
    client = await Client.connect(harness)
    reply = await client.call("subscribe", **fields)
    assert reply["success"] is False and reply["error"]["code"] == "invalid_request"


async def test_closing_the_socket_drops_its_subscriptions(hub_factory):
    harness = await _hub(hub_factory)
    before = harness.hub.bus.subscriber_count
    client = await Client.connect(harness)
    await client.call("subscribe")
    assert harness.hub.bus.subscriber_count == before + 1
    await client.ws.close()
    await _until(lambda: harness.hub.bus.subscriber_count == before)
    assert not _api(harness).connections


# -- slow consumers -------------------------------------------------------------------------------


def _stall_writer(harness, principal_name: str) -> asyncio.Event:
    """Make one server-side connection's socket writes hang, as if its client stopped
    reading and the kernel buffers were full. Returns the event that releases it."""
    release = asyncio.Event()
    (conn,) = [c for c in _api(harness).connections if c.principal.name == principal_name]
    real_send = conn.ws.send_str

    async def stuck_send(data: str, *args, **kwargs):
        await release.wait()
        await real_send(data, *args, **kwargs)

    conn.ws.send_str = stuck_send  # type: ignore[method-assign]
    return release


async def test_a_stalled_client_is_disconnected_without_slowing_the_others(
        hub_factory, monkeypatch):
    monkeypatch.setattr(ws_module, "SUBSCRIPTION_QUEUE", 50)
    harness = await _hub(hub_factory)
    slow_token = await harness.token("slow-dash", maturity="SUPERVISED")
    slow = await Client.connect(harness, slow_token)
    fast = await Client.connect(harness)
    await slow.call("subscribe", event_types=["action"])
    await fast.call("subscribe", event_types=["action"])
    _stall_writer(harness, "slow-dash")

    publish_seconds = 0.0
    for n in range(200):
        started = time.perf_counter()
        harness.hub.bus.publish("action", {"device_id": "demo.player_1", "n": n})
        publish_seconds += time.perf_counter() - started
        if n % 10 == 9:
            await asyncio.sleep(0.001)  # the fast client's writer gets to run
    assert publish_seconds < 0.5  # publishing never waited for the stalled socket

    received = [(await fast.event())["event"]["data"]["n"] for _ in range(200)]
    assert received == list(range(200))
    closing = await slow.ws.receive(timeout=RECEIVE_TIMEOUT)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR)
    assert (await fast.call("ping"))["success"] is True
    assert all(c.principal.name != "slow-dash" for c in _api(harness).connections)


async def test_a_briefly_stalled_client_gets_coalesced_latest_states(hub_factory):
    harness = await _hub(hub_factory)
    token = await harness.token("dash", maturity="SUPERVISED")
    client = await Client.connect(harness, token)
    await client.call("subscribe", event_types=["state_changed"])
    release = _stall_writer(harness, "dash")
    for i in range(300):  # far more than the queue holds, but only two devices
        for device in ("demo.player_1", "demo.player_2"):
            harness.hub.bus.publish("state_changed", {
                "device_id": device, "old_state": {"state": f"v{i}"},
                "new_state": {"state": f"v{i + 1}"}})
    release.set()
    events = [(await client.event())["event"]["data"] for _ in range(2)]
    # Possibly one event per device was already being written when the stall began.
    latest = {e["device_id"]: e["new_state"]["state"] for e in events}
    await client.call("ping")
    for extra in client.events:
        data = extra["event"]["data"]
        latest[data["device_id"]] = data["new_state"]["state"]
    assert latest == {"demo.player_1": "v300", "demo.player_2": "v300"}
    assert len(events) + len(client.events) <= 4


async def test_a_client_that_never_reads_real_socket(hub_factory, monkeypatch):
    """No simulation: a real socket whose client never reads, big events, small queue."""
    monkeypatch.setattr(ws_module, "SUBSCRIPTION_QUEUE", 20)
    monkeypatch.setattr(ws_module, "CLOSE_TIMEOUT", 0.2)
    harness = await _hub(hub_factory)
    token = await harness.token("frozen", maturity="SUPERVISED")
    frozen = await Client.connect(harness, token)
    await frozen.call("subscribe", event_types=["action"])
    fast = await Client.connect(harness)
    await fast.call("subscribe", event_types=["action"])
    blob = "x" * 60_000
    (conn,) = [c for c in _api(harness).connections if c.principal.name == "frozen"]
    # The frozen client's kernel buffers fill up; its writer blocks; its queue overflows.
    for n in range(1500):
        harness.hub.bus.publish("action", {"device_id": "demo.player_1", "n": n, "blob": blob})
        if n % 20 == 19:
            await asyncio.sleep(0)
        got = (await fast.event())["event"]["data"]["n"]
        assert got == n
        if conn._closing:
            break
    assert [s.closed_reason for s in conn.subscriptions.values()] in (["overflow"], [])
    # The close frame cannot get through a full buffer: the transport is aborted.
    await _until(lambda: conn not in _api(harness).connections)
    assert (await fast.call("ping"))["success"] is True
