"""`hub mcp` driven by the MCP SDK's own client, as an agent runs it: a real `hub mcp`
subprocess (stdio, or streamable HTTP) talking to a hub with the demo plugin over its public
API. Every wait is for a condition, bounded by a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2
import pytest
from aiohttp.test_utils import unused_port
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

DEADLINE = 30.0  # seconds, for every bounded wait
DEMO = {"plugins": {"demo": {"players": 3}}}


@pytest.fixture
async def harness(hub_factory):
    return await hub_factory(DEMO, only=["demo"])


def stdio_params(url: str, token: str, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "hub", "mcp", "--url", url, *extra],
        env={"HUB_TOKEN": token, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})


@contextlib.asynccontextmanager
async def mcp_stdio(url: str, token: str, **kwargs: Any) -> AsyncIterator[Client]:
    async with Client(stdio_params(url, token), read_timeout_seconds=DEADLINE,
                      **kwargs) as client:
        yield client


def text(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def audit(harness, **query: str) -> list[dict[str, Any]]:
    status, body = await harness.get("/audit", params=query)
    assert status == 200, body
    return body["records"]


async def wait_for(condition, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while loop.time() < deadline:
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.02)  # polling another process's effect, bounded by DEADLINE
    raise AssertionError(f"timed out waiting for {what}")


# -- the hub side: the client-declared source ----------------------------------------------------


@pytest.mark.parametrize("header, source", [
    ({"X-Hub-Client": "mcp"}, "mcp"),
    ({"X-Hub-Client": "MCP "}, "mcp"),
    ({"X-Hub-Client": "dashboard"}, "dashboard"),
    ({"X-Hub-Client": "owner-of-everything"}, "rest"),  # not a known client: ignored
    ({}, "rest"),
])
async def test_rest_records_the_declared_client_as_source(harness, header, source):
    body = {"device": "demo.player_1", "action": "pause", "params": {}}
    status, answer = await harness.request("POST", "/actions", json=body, headers=header)
    assert status == 200, answer
    records = await audit(harness, correlation_id=answer["correlation_id"])
    assert {r["source"] for r in records} == {source}
    assert {r["principal"] for r in records} == {"owner"}  # the header never says who


# -- the command -------------------------------------------------------------------------------


def test_the_command_needs_a_token_and_keeps_a_shared_one_on_loopback(tmp_path, monkeypatch,
                                                                      capsys):
    from hub.cli import main

    monkeypatch.delenv("HUB_TOKEN", raising=False)
    assert main(["mcp", "--url", "http://127.0.0.1:9"]) == 1
    assert "no agent token" in capsys.readouterr().err
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    assert main(["mcp", "--url", "http://127.0.0.1:9", "--token-file", str(empty)]) == 1
    assert "is empty" in capsys.readouterr().err
    assert main(["mcp", "--url", "http://127.0.0.1:9", "--token-file",
                 str(tmp_path / "missing")]) == 1
    assert "cannot read the token file" in capsys.readouterr().err
    monkeypatch.setenv("HUB_TOKEN", "hub_shared")
    assert main(["mcp", "--url", "http://127.0.0.1:9", "--http", "--host", "0.0.0.0"]) == 1
    assert "refusing to serve 0.0.0.0 with a shared token" in capsys.readouterr().err


# -- stdio: tools, control by name, dry run, denial, revocation -----------------------------------


async def test_a_supervised_agent_gets_the_catalog_as_tools_and_controls_by_name(harness):
    token = await harness.token("planner", maturity="SUPERVISED")
    async with mcp_stdio(harness.url, token) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"list_devices", "get_device", "now_playing", "control", "search_media",
                "browse_media", "play"} <= set(tools)
        status, catalog = await harness.get("/actions/catalog?device=demo.player_1")
        assert status == 200, catalog
        # Each action with parameters is a tool whose schema is the catalog's.
        by_name = {a["name"]: a for a in catalog["devices"][0]["actions"]}
        for action in ("volume_set", "volume_step", "seek", "mute", "shuffle_set",
                       "repeat_set", "select_source", "join"):
            schema = tools[action].input_schema
            expected = by_name[action]["parameters"]
            for key, value in expected["properties"].items():
                assert schema["properties"][key] == value, (action, key)
            assert set(schema["required"]) == {"device", *expected["required"]}
            assert schema["properties"]["dry_run"]["type"] == "boolean"
        # Parameterless actions are the values of control's `action`; play and play_media
        # are the play tool's (a search, an item, or resume).
        assert set(tools["control"].input_schema["properties"]["action"]["enum"]) == {
            "next", "pause", "previous", "stop", "unjoin", "volume_get"}
        assert "dry_run" in tools["control"].input_schema["properties"]
        assert "play_media" not in tools
        assert set(tools["play"].input_schema["properties"]) == {
            "device", "query", "item", "enqueue", "dry_run"}
        # The media tools' parameters are the catalog's media operations'.
        media = {m["name"]: m for m in catalog["media"]}
        for name in ("search_media", "browse_media"):
            expected = media[name]["parameters"]["properties"]
            schema = tools[name].input_schema["properties"]
            assert set(schema) == set(expected)
            assert all(schema[k] == v for k, v in expected.items() if k != "device")

        # Reading and controlling, devices named as people say them.
        result = await client.call_tool("now_playing", {})
        assert not result.is_error and text(result) == "Nothing is playing."

        result = await client.call_tool("play", {"device": "Living Room"})
        assert not result.is_error, text(result)
        assert text(result).startswith("Resumed playback on Living Room (demo.player_1).")
        assert (await harness.device("demo.player_1"))["state"] == "playing"
        title = (await harness.device("demo.player_1"))["attributes"]["media_title"]

        result = await client.call_tool("now_playing", {})
        assert not result.is_error
        assert text(result).startswith(f'Living Room (demo.player_1): playing "{title}" by ')
        assert result.structured_content["devices"][0]["media_title"] == title

        result = await client.call_tool("volume_set", {"device": "the living room speaker",
                                                       "volume": 55, "dry_run": True})
        assert not result.is_error, text(result)
        assert text(result).startswith("Dry run, nothing was done: volume_set on Living Room")
        assert (await harness.device("demo.player_1"))["attributes"]["volume"] == 30

        result = await client.call_tool("volume_set", {"device": "living room", "volume": 55})
        assert not result.is_error, text(result)
        assert (await harness.device("demo.player_1"))["attributes"]["volume"] == 55

        result = await client.call_tool("control", {"device": "Kitchen", "action": "pause"})
        assert not result.is_error, text(result)
        assert "Done: pause on Kitchen (demo.player_2)" in text(result)

        result = await client.call_tool("list_devices", {"state": "playing"})
        assert text(result).splitlines() == [
            f'Living Room (demo.player_1): playing, "{title}" by '
            f'{(await harness.device("demo.player_1"))["attributes"]["media_artist"]}, volume 55']

    records = await audit(harness, principal="planner")
    assert records and {r["source"] for r in records} == {"mcp"}
    assert {(r["action"], r["device"], r["record"], r["decision"] or r["outcome"])
            for r in records} >= {
        ("play", "demo.player_1", "decision", "allow"), ("play", "demo.player_1", "outcome", "ok"),
        ("volume_set", "demo.player_1", "decision", "allow"),
        ("volume_set", "demo.player_1", "outcome", "dry_run"),
        ("volume_set", "demo.player_1", "outcome", "ok"),
        ("pause", "demo.player_2", "outcome", "ok")}
    # The audit keeps what the agent said beside the device it resolved to.
    assert {(r["outcome"], r["context"]["device_asked"]) for r in records
            if r["action"] == "volume_set" and r["record"] == "outcome"} == {
        ("dry_run", "name:the living room speaker"), ("ok", "name:living room")}


async def test_an_intern_is_denied_may_search_and_is_cut_off_when_revoked(harness):
    token = await harness.token("intern-bot", maturity="INTERN")
    async with mcp_stdio(harness.url, token) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "requires SUPERVISED" in tools["seek"].description
        result = await client.call_tool("control", {"device": "Kitchen", "action": "pause"})
        assert result.is_error
        assert "Denied by the hub's governance" in text(result)
        assert "Required maturity: SUPERVISED; this agent's maturity: INTERN" in text(result)
        assert result.structured_content["error"]["required"] == "SUPERVISED"
        # A harmless action and reading the library are allowed; playing is control.
        result = await client.call_tool("control", {"device": "Kitchen",
                                                    "action": "volume_get"})
        assert not result.is_error and 'Result: {"volume": 30}' in text(result)
        result = await client.call_tool("search_media", {"q": "jazz"})
        assert not result.is_error and "Harbour Jazz Radio" in text(result)
        result = await client.call_tool("play", {"device": "Kitchen", "query": "jazz radio"})
        assert result.is_error and "Required maturity: SUPERVISED" in text(result)

        # Revoked: the very next call fails, whatever it is.
        status, _ = await harness.request("DELETE", "/tokens/intern-bot")
        assert status == 200
        result = await client.call_tool("get_device", {"device": "Kitchen"})
        assert result.is_error and "refused this agent's token" in text(result)
        result = await client.call_tool("control", {"device": "Kitchen", "action": "volume_get"})
        assert result.is_error and "refused this agent's token" in text(result)

    denials = [r for r in await audit(harness, principal="intern-bot")
               if r["decision"] == "deny"]
    assert [(r["action"], r["device"], r["source"], r["maturity"], r["required"])
            for r in reversed(denials)] == [
        ("pause", "demo.player_2", "mcp", "INTERN", "SUPERVISED"),
        ("play_media", "demo.player_2", "mcp", "INTERN", "SUPERVISED")]


async def test_bad_input_gives_tool_errors_and_the_server_stays_up(harness):
    token = await harness.token("fuzzer", maturity="AUTONOMOUS")
    async with mcp_stdio(harness.url, token) as client:
        cases = [
            ("no_such_tool", {}, "Unknown tool 'no_such_tool'"),
            ("volume_set", {"device": "demo.player_1", "volume": "loud"},
             "volume: 'loud' is not of type 'integer'"),
            ("volume_set", {"device": "demo.player_1", "volume": 101}, "volume: 101 is greater"),
            ("volume_set", {"device": "demo.player_1"}, "'volume' is a required property"),
            ("control", {"device": 7, "action": "stop"}, "device: 7 is not of type 'string'"),
            ("control", {"device": "demo.player_1", "action": "explode"},
             "action: 'explode' is not one of"),
            ("control", {"device": "demo.player_1", "action": "stop", "extra": 1},
             "Additional properties are not allowed"),
            ("control", {"device": "demo.player_1", "action": "stop", "dry_run": "yes"},
             "dry_run: 'yes' is not of type 'boolean'"),
            ("get_device", {"device": "x" * 1_000_000}, "The arguments are too large"),
            ("list_devices", {"text": ["deep"] * 10 + [[[[[[[[[[[]]]]]]]]]]]},
             "text: "),
            ("get_device", {"device": "demo.nope"}, "404 unknown_device"),
        ]
        for name, arguments, expected in cases:
            result = await client.call_tool(name, arguments)
            assert result.is_error, (name, arguments)
            assert expected in text(result), (name, text(result)[:300])
            assert len(text(result)) < 3000
        # Still up, and still right.
        result = await client.call_tool("play", {"device": "demo.player_3"})
        assert not result.is_error, text(result)


async def test_hostile_bytes_on_stdio_fail_only_their_own_request(harness):
    """What the SDK's client would refuse to send: broken JSON, lone surrogates, deep nesting."""
    token = await harness.token("raw", maturity="SUPERVISED")
    params = stdio_params(harness.url, token)
    proc = await asyncio.create_subprocess_exec(
        params.command, *params.args, env={**os.environ, **params.env},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None

    async def send(line: str) -> None:
        proc.stdin.write(line.encode() + b"\n")
        await proc.stdin.drain()

    async def answer(msg_id: int) -> dict[str, Any]:
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), DEADLINE)
            assert line, "hub mcp exited"
            message = json.loads(line)
            if message.get("id") == msg_id:
                return message

    def call(msg_id: int, arguments: str) -> str:
        return (f'{{"jsonrpc":"2.0","id":{msg_id},"method":"tools/call",'
                f'"params":{{"name":"get_device","arguments":{arguments}}}}}')

    try:
        await send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}))
        assert "result" in await answer(1)
        await send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
        # Lines the SDK cannot parse carry no request it could answer: it drops them.
        await send("this is not JSON")
        await send(call(2, '{"device":"\\ud800"}'))  # a lone surrogate (rejected by the SDK)
        await send(call(3, '{"device":' + "[" * 5000 + "]" * 5000 + "}"))
        await send(call(4, '{"device":["list"]}'))
        reply = await answer(4)
        assert reply["result"]["isError"] is True
        assert "device: ['list'] is not of type 'string'" in reply["result"]["content"][0]["text"]
        await send(call(5, '{"device":"demo.player_1"}'))
        reply = await answer(5)
        assert reply["result"]["isError"] is False
        assert reply["result"]["structuredContent"]["id"] == "demo.player_1"
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), DEADLINE)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_arguments_with_lone_surrogates_are_refused_before_the_hub():
    # The SDK's parser already drops such frames; the check also guards other transports.
    from hub.mcp.tools import Toolbox

    result = await Toolbox(api=None).call("token", "get_device", {"device": "\ud800"})  # type: ignore[arg-type]
    assert result.is_error and "invalid Unicode" in text(result)


# -- devices by name and the media library -----------------------------------------------------

HOUSEHOLD = {"plugins": {"demo": {"players": ["Living Room", "Living Room TV", "Kitchen",
                                              "Bob's iPhone"]}}}


async def test_names_media_and_play(hub_factory):
    harness = await hub_factory(HOUSEHOLD, only=["demo"])
    token = await harness.token("dj", maturity="SUPERVISED")
    async with mcp_stdio(harness.url, token) as client:
        result = await client.call_tool("get_device", {"device": "Livng Room"})
        assert result.is_error and "404 unknown_device" in text(result)
        assert "candidates: Living Room (demo.living_room)" in text(result)
        result = await client.call_tool("control", {"device": "living", "action": "pause"})
        assert result.is_error and "409 ambiguous_device" in text(result)
        assert "Living Room (demo.living_room), Living Room TV (demo.living_room_tv)" \
            in text(result)
        result = await client.call_tool("list_devices", {"text": "bobs iphone"})
        assert text(result).splitlines()[0].startswith("Bob's iPhone (demo.bob_s_iphone): ")

        result = await client.call_tool("search_media", {"q": "focus", "types": ["playlist"]})
        assert not result.is_error, text(result)
        assert text(result).splitlines()[0].startswith(
            '"Focus" (playlist, Long, quiet tracks for deep work')
        assert "id=demo:playlist:focus" in text(result)
        result = await client.call_tool("browse_media", {"device": "Kitchen"})
        assert not result.is_error, text(result)
        assert len(result.structured_content["children"]) >= 2

        result = await client.call_tool("play", {"device": "Kitchen",
                                                 "query": "my focus playlist"})
        assert not result.is_error, text(result)
        assert text(result).startswith('Playing "Focus" (playlist, ')
        assert "on Kitchen (demo.kitchen). Now: playing" in text(result)
        assert (await harness.device("demo.kitchen"))["state"] == "playing"

        result = await client.call_tool("play", {"device": "Bob's iPhone", "dry_run": True,
                                                 "item": "demo:radio:harbour_jazz"})
        assert not result.is_error, text(result)
        assert text(result).startswith("Dry run, nothing was done: Playing "
                                       "'demo:radio:harbour_jazz' on Bob's iPhone")
        assert (await harness.device("demo.bob_s_iphone"))["state"] == "idle"

        result = await client.call_tool("play", {"device": "Kitchen", "query": "zzzz qqqq"})
        assert result.is_error and "Nothing playable found for 'zzzz qqqq'" in text(result)

    played = [r for r in await audit(harness, device="demo.kitchen")
              if r["action"] == "play_media"]
    assert {(r["principal"], r["source"], r["decision"] or r["outcome"]) for r in played} == {
        ("dj", "mcp", "allow"), ("dj", "mcp", "ok")}
    assert played[-1]["params"]["media_id"] == "demo:playlist:focus"


# -- resources ---------------------------------------------------------------------------------


async def test_devices_are_resources_and_listen_streams_push_updates(harness):
    """The 2026-07-28 protocol (the SDK client's default): subscriptions/listen."""
    token = await harness.token("watcher", maturity="STUDENT")
    uri = "hub://devices/demo.player_1"
    async with mcp_stdio(harness.url, token) as client:
        assert client.protocol_version == "2026-07-28"
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        assert set(listed) == {f"hub://devices/demo.player_{i}" for i in (1, 2, 3)}
        assert listed[uri].title == "Living Room"
        content = (await client.read_resource(uri)).contents[0]
        assert json.loads(content.text)["name"] == "Living Room"
        templates = (await client.list_resource_templates()).resource_templates
        assert templates[0].uri_template == "hub://devices/{id}"

        async with client.listen(resource_subscriptions=[uri]) as sub:
            assert sub.honored.resource_subscriptions == [uri]
            status, _ = await harness.act("demo.player_1", "volume_set", {"volume": 12})
            assert status == 200
            event = await asyncio.wait_for(anext(aiter(sub)), DEADLINE)
            assert event.uri == uri
            content = (await client.read_resource(uri, cache_mode="bypass")).contents[0]
            assert json.loads(content.text)["attributes"]["volume"] == 12

        with pytest.raises(Exception, match="not a device resource"):
            await client.read_resource("hub://other/1")
        with pytest.raises(Exception, match="unknown device"):
            await client.read_resource("hub://devices/demo.nope")


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_resources_subscribe_in_the_2025_protocol(harness):
    """Claude Desktop and most agent frameworks speak the handshake era: resources/subscribe
    and notifications/resources/updated on the session."""
    import mcp_types as types

    token = await harness.token("watcher", maturity="STUDENT")
    uri = "hub://devices/demo.player_2"
    updates: asyncio.Queue[str] = asyncio.Queue()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.put_nowait(message.params.uri)

    async with mcp_stdio(harness.url, token, mode="legacy", message_handler=on_message) as client:
        await client.subscribe_resource(uri)
        status, _ = await harness.act("demo.player_2", "play")
        assert status == 200
        assert await asyncio.wait_for(updates.get(), DEADLINE) == uri
        # Another device's change is not announced to this subscriber.
        await harness.act("demo.player_3", "play")
        await harness.act("demo.player_2", "pause")
        assert await asyncio.wait_for(updates.get(), DEADLINE) == uri
        while not updates.empty():  # player_3's change would have come before player_2's
            assert updates.get_nowait() == uri
        await client.unsubscribe_resource(uri)
        with pytest.raises(Exception, match="unknown device"):
            await client.subscribe_resource("hub://devices/demo.nope")


# -- streamable HTTP -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def mcp_http(url: str, token: str | None) -> AsyncIterator[str]:
    """`hub mcp --http` as a subprocess; yields its MCP endpoint once it answers."""
    port = unused_port()
    env = {**os.environ}
    env.pop("HUB_TOKEN", None)
    if token:
        env["HUB_TOKEN"] = token
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "mcp", "--url", url, "--http", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{port}/mcp"
    try:
        async with aiohttp.ClientSession() as session:
            async def answers() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode())
                try:
                    async with session.get(endpoint) as resp:
                        return resp.status < 500
                except aiohttp.ClientConnectionError:
                    return False
            await wait_for(answers, "hub mcp --http to answer")
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


async def test_streamable_http_answers_the_same(harness):
    token = await harness.token("remote", maturity="SUPERVISED")
    intern = await harness.token("remote-intern", maturity="INTERN")
    async with mcp_http(harness.url, token) as endpoint:
        async with Client(endpoint, read_timeout_seconds=DEADLINE) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"list_devices", "now_playing", "control", "volume_set"} <= names
            result = await client.call_tool("play", {"device": "Kitchen"})
            assert not result.is_error, text(result)
            result = await client.call_tool("now_playing", {"device": "demo.player_2"})
            assert text(result).startswith('Kitchen (demo.player_2): playing "')
        # A client with its own token acts as its own principal.
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {intern}"}) as http:
            async with Client(streamable_http_client(endpoint, http_client=http),
                              read_timeout_seconds=DEADLINE) as client:
                result = await client.call_tool("control", {"device": "demo.player_2",
                                                            "action": "pause"})
                assert result.is_error and "SUPERVISED" in text(result)
    by_source = {(r["principal"], r["action"], r["decision"] or r["outcome"], r["source"])
                 for r in await audit(harness, device="demo.player_2")}
    assert ("remote", "play", "ok", "mcp") in by_source
    assert ("remote-intern", "pause", "deny", "mcp") in by_source
