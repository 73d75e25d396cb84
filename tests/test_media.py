"""The media library: browse and search over REST and WS, across providers that answer, fail,
hang or return junk; paging, the cache, governance and audit of reads, the catalog, and
playing what was found through the action pipeline."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from hub import media as media_module
from hub.plugin import (
    MEDIA_ID_MAX,
    BrowseResult,
    Device,
    MediaItem,
    NotFound,
    PluginInfo,
    RateLimited,
    hookimpl,
    standard_actions,
)
from hub.testing import ManualClock

RECEIVE_TIMEOUT = 5.0  # real seconds; reached only when a test is about to fail


class Shelf:
    """A media provider with one device and a fixed shelf of tracks. `mode` says how its
    search behaves: ok, crash, hang, throttle, junk (an invalid item), not_a_list."""

    def __init__(self, titles: list[str], mode: str = "ok", *, long_id: int = 0) -> None:
        self.titles = titles
        self.mode = mode
        self.searches = 0
        self.browses = 0
        self.long_id = long_id
        self.played: list[str] = []

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo(actions=standard_actions("play", "play_media"), timeout=5.0)

    @hookimpl
    def discover(self, ctx):
        return [Device(id=f"{ctx.name}.box", name=f"{ctx.name.title()} Box",
                       actions=frozenset({"play", "play_media"}))]

    @hookimpl
    async def act(self, ctx, device, action, params):
        if action == "play_media":
            self.played.append(params["media_id"])
            ctx.update_device(device.id, state="playing", media_content_id=params["media_id"])

    def _item(self, ctx, n: int) -> MediaItem:
        item_id = f"{ctx.name}:{n}"
        if self.long_id:
            item_id = item_id.ljust(self.long_id, "x")
        return MediaItem(item_id, self.titles[n], "track", subtitle=ctx.name, duration=60,
                         thumbnail=f"https://img.example/{n}.jpg", can_play=True)

    async def _misbehave(self, ctx) -> Any:
        if self.mode == "crash":
            raise RuntimeError("the service fell over")
        if self.mode == "hang":
            await asyncio.Event().wait()  # never: the core's timeout ends it
        if self.mode == "throttle":
            raise RateLimited("slow down", retry_after=7)
        if self.mode == "junk":
            return [MediaItem("ok", "Fine", "track"),
                    MediaItem("bad", "Bad", "track", thumbnail="javascript:alert(1)")]
        if self.mode == "not_a_list":
            return "three tracks"
        return None

    @hookimpl
    async def search_media(self, ctx, query, types, limit, device):
        self.searches += 1
        junk = await self._misbehave(ctx)
        if junk is not None:
            return junk
        return [self._item(ctx, n) for n, title in enumerate(self.titles)
                if query.lower() in title.lower()][:limit]

    @hookimpl
    async def browse_media(self, ctx, device, item_id, cursor):
        self.browses += 1
        junk = await self._misbehave(ctx)
        if junk is not None:
            return junk
        if item_id not in (None, f"{ctx.name}:shelf"):
            raise NotFound(f"no item {item_id}", code="unknown_media_item")
        start = int(cursor or 0)
        children = [self._item(ctx, n) for n in range(len(self.titles))][start:start + 2]
        nxt = str(start + 2) if start + 2 < len(self.titles) else None
        return BrowseResult(MediaItem(f"{ctx.name}:shelf", "Shelf", "folder", can_expand=True),
                            children, nxt)


class Rendezvous:
    """Answers only once its partner's search has started too: proves concurrency without
    measuring time (asked one after the other, the first would wait for its timeout)."""

    def __init__(self, mine: asyncio.Event, partner: asyncio.Event) -> None:
        self.mine, self.partner = mine, partner

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo(timeout=10.0)

    @hookimpl
    async def search_media(self, ctx, query, types, limit, device):
        self.mine.set()
        await self.partner.wait()
        return [MediaItem(f"{ctx.name}:1", f"{ctx.name} song", "track", can_play=True)]


def _config(*names: str, **sections: dict) -> dict:
    plugins: dict[str, Any] = {"demo": {"players": 2}}
    plugins.update({n: sections.get(n, {}) for n in names})
    return {"plugins": plugins}


async def _hub(hub_factory, plugins: dict[str, Any] | None = None, config: dict | None = None,
               **kwargs):
    plugins = plugins or {}
    config = config or _config(*plugins)
    return await hub_factory(config, only=["demo", *plugins], extra_plugins=plugins, **kwargs)


async def _ok(harness, path: str, token: Any = True) -> Any:
    status, body = await harness.get(path, token=token)
    assert status == 200, (path, body)
    return body


# -- the "done when", with the demo --------------------------------------------------


async def test_search_browse_and_play_with_the_demo(hub_factory):
    harness = await _hub(hub_factory)
    found = await _ok(harness, "/media/search?q=focus")
    assert found["errors"] == []
    by_title = {r["title"]: r for r in found["results"]}
    assert by_title["Focus"]["type"] == "playlist" and by_title["Focus"]["plugin"] == "demo"
    assert by_title["Focus Field"]["can_play"] and by_title["Focus Field"]["subtitle"]

    root = await _ok(harness, "/media/browse?device=demo.player_1")
    assert root["item"]["type"] == "folder" and root["cursor"] is None
    folders = {c["title"]: c for c in root["children"]}
    assert set(folders) >= {"Artists", "Albums", "Playlists", "Radio", "Tracks"}
    assert all(c["can_expand"] and not c["can_play"] for c in folders.values())

    albums_id = folders["Albums"]["id"]
    albums = await _ok(harness, f"/media/browse?device=demo.player_1&item={albums_id}")
    tides = next(a for a in albums["children"] if a["title"] == "Tides")
    tracks = await _ok(harness, f"/media/browse?device=demo.player_1&item={tides['id']}")
    assert tracks["item"]["id"] == tides["id"]
    assert all(t["can_play"] and t["type"] == "track" for t in tracks["children"])
    chosen = tracks["children"][2]

    status, body = await harness.act("demo.player_1", "play_media",
                                     {"media_id": chosen["id"], "enqueue": "replace"})
    assert status == 200, body
    attrs = body["state"]["attributes"]
    assert body["state"]["state"] == "playing"
    assert (attrs["media_title"], attrs["media_artist"], attrs["media_album"],
            attrs["media_duration"]) == (chosen["title"], "Harbour Lights", "Tides",
                                         chosen["duration"])
    # A whole album, and a radio station, by the ids search gives.
    status, body = await harness.act("demo.player_2", "play_media",
                                     {"media_id": tides["id"], "enqueue": "replace"})
    assert body["state"]["attributes"]["queue_length"] == len(tracks["children"])
    radio = (await _ok(harness, "/media/search?q=jazz&types=radio"))["results"]
    assert [r["type"] for r in radio] == ["radio"]
    status, body = await harness.act("demo.player_2", "play_media", {"media_id": radio[0]["id"]})
    assert body["state"]["attributes"]["media_title"] == radio[0]["title"]
    assert body["state"]["attributes"].get("media_duration") is None  # a stream


async def test_paging_with_cursors(hub_factory):
    harness = await _hub(hub_factory)
    first = await _ok(harness, "/media/browse?device=demo.player_1&item=demo:folder:tracks")
    assert len(first["children"]) == 25 and first["cursor"]
    second = await _ok(harness, "/media/browse?device=demo.player_1&item=demo:folder:tracks"
                                f"&cursor={first['cursor']}")
    assert second["cursor"] is None
    ids = [c["id"] for c in first["children"] + second["children"]]
    assert len(ids) == len(set(ids)) == 37
    status, body = await harness.get(
        "/media/browse?device=demo.player_1&item=demo:folder:tracks&cursor=banana")
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    assert body["error"]["plugin"] == "demo"
    status, body = await harness.get("/media/browse?device=demo.player_1&item=demo:album:99")
    assert status == 404 and body["error"]["plugin"] == "demo"
    assert body["error"]["item"] == "demo:album:99" and "demo" in body["error"]["message"]


# -- several providers ---------------------------------------------------------------------------


async def test_one_failing_or_slow_provider_never_fails_the_others(hub_factory):
    plugins = {"good": Shelf(["Blue Focus", "Red"]), "crash": Shelf(["x"], "crash"),
               "slow": Shelf(["x"], "hang"), "junk": Shelf(["x"], "junk"),
               "odd": Shelf(["x"], "not_a_list")}
    harness = await _hub(hub_factory, plugins, _config(*plugins, slow={"timeout": 0.05}))
    body = await _ok(harness, "/media/search?q=focus")
    plugins_seen = {r["plugin"] for r in body["results"]}
    assert plugins_seen == {"demo", "good"}
    errors = {e["plugin"]: e for e in body["errors"]}
    assert set(errors) == {"crash", "slow", "junk", "odd"}
    assert errors["crash"]["code"] == "upstream_error"
    assert "the service fell over" in errors["crash"]["message"]
    assert errors["slow"]["code"] == "timeout" and "0.05" in errors["slow"]["message"]
    assert errors["junk"]["code"] == "invalid_media" and "thumbnail" in errors["junk"]["message"]
    assert errors["odd"]["code"] == "invalid_media"
    # Results are interleaved, each provider's best first, and at most `limit`.
    body = await _ok(harness, "/media/search?q=e&limit=3")
    assert len(body["results"]) == 3
    assert [r["plugin"] for r in body["results"][:2]] == ["demo", "good"]
    # The hub is fine afterwards.
    assert (await _ok(harness, "/media/search?q=red&plugin=good"))["results"][0]["title"] == "Red"


async def test_providers_are_asked_concurrently(hub_factory):
    a_started, b_started = asyncio.Event(), asyncio.Event()
    plugins = {"alpha": Rendezvous(a_started, b_started), "beta": Rendezvous(b_started, a_started)}
    harness = await _hub(hub_factory, plugins,
                         _config(*plugins, alpha={"timeout": 5}, beta={"timeout": 5}))
    body = await _ok(harness, "/media/search?q=rendezvous")
    assert body["errors"] == []
    assert {r["plugin"] for r in body["results"]} == {"alpha", "beta"}


async def test_one_provider_errors_map_like_actions(hub_factory):
    plugins = {"crash": Shelf(["x"], "crash"), "slow": Shelf(["x"], "hang"),
               "throttle": Shelf(["x"], "throttle"), "junk": Shelf(["x"], "junk")}
    harness = await _hub(hub_factory, plugins, _config(*plugins, slow={"timeout": 0.05}))
    for query, status, code in (
            ("plugin=crash", 502, "upstream_error"), ("device=crash.box", 502, "upstream_error"),
            ("plugin=slow", 504, "timeout"), ("plugin=throttle", 429, "rate_limited"),
            ("plugin=junk", 502, "invalid_media")):
        got, body = await harness.get(f"/media/search?q=x&{query}")
        assert (got, body["error"]["code"]) == (status, code), (query, body)
        assert body["error"]["plugin"] == query.split("=")[1].split(".")[0]
    async with harness.client.get("/media/search?q=x&plugin=throttle",
                                  headers=harness.auth(harness.owner_token)) as resp:
        assert resp.headers["Retry-After"] == "7"
    for device, status, code in (("crash.box", 502, "upstream_error"), ("slow.box", 504, "timeout"),
                                 ("junk.box", 502, "invalid_media")):
        got, body = await harness.get(f"/media/browse?device={device}")
        assert (got, body["error"]["code"]) == (status, code), body
        assert body["error"]["device"] == device
    # Every provider asked failed: one error, with each provider's.
    harness2 = await _hub(hub_factory, {"crash": Shelf(["x"], "crash"),
                                        "throttle": Shelf(["x"], "crash")},
                          {"plugins": {"crash": {}, "throttle": {}}})
    status, body = await harness2.get("/media/search?q=x")
    assert status == 502 and body["error"]["code"] == "upstream_error"
    assert {p["plugin"] for p in body["error"]["providers"]} == {"crash", "throttle"}


async def test_what_plugins_return_is_checked(hub_factory):
    long_ok = Shelf(["Zebulon"], long_id=MEDIA_ID_MAX)
    too_long = Shelf(["Zebulon"], long_id=MEDIA_ID_MAX + 1)
    harness = await _hub(hub_factory, {"longok": long_ok, "toolong": too_long})
    body = await _ok(harness, "/media/search?q=zebulon")
    assert [len(r["id"]) for r in body["results"]] == [MEDIA_ID_MAX]
    assert body["errors"][0]["plugin"] == "toolong"
    assert body["errors"][0]["code"] == "invalid_media"
    # An id at the limit is accepted unchanged by play_media.
    status, _ = await harness.act("longok.box", "play_media",
                                       {"media_id": body["results"][0]["id"]})
    assert status == 200 and long_ok.played == [body["results"][0]["id"]]

    def check(**fields):
        base = {"id": "x", "title": "T", "type": "track"}
        return media_module.media_item(MediaItem(**{**base, **fields}), "p")

    assert check(title="a\x00b\ud800")["title"] == "a b\ufffd"
    assert len(check(title="t" * 5000)["title"]) == media_module.MAX_TEXT
    assert check(thumbnail="http://127.0.0.1:8765/art.svg")["thumbnail"]
    assert check()["plugin"] == "p"
    for bad in ({"type": "song"}, {"id": ""}, {"id": "a\nb"}, {"title": "  "}, {"title": 7},
                {"duration": -1}, {"duration": float("nan")}, {"duration": True},
                {"thumbnail": "/relative.png"}, {"thumbnail": "ftp://host/x"},
                {"thumbnail": "http://"}, {"thumbnail": "http://h:99999/x"},
                {"thumbnail": "http://h/a b"}, {"can_play": "yes"}):
        with pytest.raises(ValueError):
            check(**bad)
    with pytest.raises(ValueError):
        media_module.media_item({"id": "x"}, "p")


# -- bad input -----------------------------------------------------------------------------------


class Deaf:
    """A plugin with a device and no media hooks."""

    @hookimpl
    def describe(self) -> PluginInfo:
        return PluginInfo()

    @hookimpl
    def discover(self, ctx):
        return [Device(id="deaf.one", name="Deaf One")]


async def test_bad_input_is_a_clear_4xx(hub_factory):
    harness = await _hub(hub_factory, {"deaf": Deaf()})
    cases = [
        ("/media/search", 400, "invalid_request"),
        ("/media/search?q=", 400, "invalid_request"),
        ("/media/search?q=%20%20", 400, "invalid_request"),
        (f"/media/search?q={'a' * 201}", 400, "invalid_request"),
        ("/media/search?q=a%00b", 400, "invalid_request"),
        ("/media/search?q=a&types=song", 400, "invalid_request"),
        ("/media/search?q=a&types=track,,album", 400, "invalid_request"),
        ("/media/search?q=a&limit=0", 400, "invalid_request"),
        ("/media/search?q=a&limit=51", 400, "invalid_request"),
        ("/media/search?q=a&limit=ten", 400, "invalid_request"),
        ("/media/search?q=a&limit=1e3", 400, "invalid_request"),
        (f"/media/search?q=a&limit={10 ** 40}", 400, "invalid_request"),
        ("/media/search?q=a&query=b", 400, "invalid_request"),
        ("/media/search?q=a&q=b", 400, "invalid_request"),
        ("/media/search?q=a&plugin=demo&device=demo.player_1", 400, "invalid_request"),
        ("/media/search?q=a&plugin=nope", 404, "unknown_plugin"),
        ("/media/search?q=a&plugin=deaf", 400, "unsupported_action"),
        ("/media/search?q=a&device=demo.nope", 404, "unknown_device"),
        ("/media/browse", 400, "invalid_request"),
        ("/media/browse?device=demo.nope", 404, "unknown_device"),
        ("/media/browse?device=deaf.one", 400, "unsupported_action"),
        (f"/media/browse?device=demo.player_1&item={'i' * (MEDIA_ID_MAX + 1)}", 400,
         "invalid_request"),
        (f"/media/browse?device=demo.player_1&cursor={'c' * 1025}", 400, "invalid_request"),
        ("/media/browse?device=demo.player_1&item=a%1bb", 400, "invalid_request"),
    ]
    for path, status, code in cases:
        got, body = await harness.get(path)
        assert (got, body["error"]["code"]) == (status, code), (path, body)
    got, body = await harness.get("/media/search?q=a&types=song")
    assert body["error"]["field"] == "types" and "track" in body["error"]["supported"]
    got, body = await harness.get("/media/browse?device=demo.nope")
    assert body["error"]["candidates"][0]["id"].startswith("demo.player_")
    assert (await _ok(harness, "/media/search?q=focus&types=track,playlist&types=album"))


# -- governance, audit, catalog ----------------------------------------------------------------


async def test_a_student_may_search_and_browse_but_not_play(hub_factory):
    harness = await _hub(hub_factory)
    student = await harness.token("learner", maturity="STUDENT")
    found = await _ok(harness, "/media/search?q=morning", token=student)
    track = next(r for r in found["results"] if r["type"] == "track")
    await _ok(harness, "/media/browse?device=demo.player_1", token=student)
    status, body = await harness.act("demo.player_1", "play_media", {"media_id": track["id"]},
                                     token=student)
    assert status == 403 and body["error"]["required"] == "SUPERVISED"
    assert body["error"]["maturity"] == "STUDENT"
    status, _ = await harness.get("/media/search?q=morning", token=None)
    assert status == 401


async def test_rules_raise_reads_per_plugin_and_denials_are_audited(hub_factory):
    plugins = {"spotify_like": Shelf(["Focus Flow"])}
    config = _config(*plugins)
    config["governance"] = {"rules": [
        {"plugin": "spotify_like", "action": "search_media", "require": "SUPERVISED"},
        {"plugin": "demo", "action": "browse_media", "require": "INTERN",
         "reason": "browsing shows the household's playlists"}]}
    harness = await _hub(hub_factory, plugins, config)
    student = await harness.token("learner", maturity="STUDENT")
    body = await _ok(harness, "/media/search?q=focus", token=student)
    assert {r["plugin"] for r in body["results"]} == {"demo"}
    assert body["errors"] == [{"plugin": "spotify_like", "code": "forbidden",
                               "message": body["errors"][0]["message"]}]
    assert "requires SUPERVISED" in body["errors"][0]["message"]
    status, body = await harness.get("/media/search?q=focus&plugin=spotify_like", token=student)
    assert status == 403 and body["error"]["required"] == "SUPERVISED"
    status, body = await harness.get("/media/browse?device=demo.player_1", token=student)
    assert status == 403 and body["error"]["required"] == "INTERN"
    assert "household's playlists" in body["error"]["message"]
    # Allowed for the owner, and for a SUPERVISED agent.
    supervised = await harness.token("helper", maturity="SUPERVISED")
    body = await _ok(harness, "/media/search?q=focus", token=supervised)
    assert {r["plugin"] for r in body["results"]} == {"demo", "spotify_like"}

    _, audit = await harness.get("/audit?principal=learner")
    denials = [(r["action"], r["device"], r["decision"], r["required"]) for r in audit["records"]]
    assert denials == [("browse_media", "demo.player_1", "deny", "INTERN"),
                       ("search_media", "spotify_like.*", "deny", "SUPERVISED"),
                       ("search_media", "spotify_like.*", "deny", "SUPERVISED")]
    assert audit["records"][-1]["params"] == {"q": "focus", "types": None, "limit": 20,
                                              "plugin": "spotify_like"}
    # Allowed reads change nothing and are not recorded.
    _, audit = await harness.get("/audit?principal=helper")
    assert audit["records"] == []


async def test_catalog_lists_browse_and_search_with_schemas(hub_factory):
    plugins = {"shelf": Shelf(["x"])}
    config = _config(*plugins)
    config["governance"] = {"rules": [
        {"plugin": "shelf", "action": "search_media", "require": "AUTONOMOUS"}]}
    harness = await _hub(hub_factory, plugins, config)
    intern = await harness.token("bot", maturity="INTERN")
    catalog = await _ok(harness, "/actions/catalog", token=intern)
    ops = {op["name"]: op for op in catalog["media"]}
    assert set(ops) == {"browse_media", "search_media"}
    search = ops["search_media"]
    assert search["rest"] == "GET /media/search" and search["ws"] == "search_media"
    assert search["parameters"]["required"] == ["q"]
    assert search["parameters"]["properties"]["types"]["items"]["enum"][0] == "track"
    assert {p["plugin"]: (p["allowed"], p["required"]) for p in search["plugins"]} == {
        "demo": (True, "STUDENT"), "shelf": (False, "AUTONOMOUS")}
    assert ops["browse_media"]["parameters"]["required"] == ["device"]
    one = await _ok(harness, "/actions/catalog?device=shelf.box", token=intern)
    assert [p["plugin"] for p in one["media"][1]["plugins"]] == ["shelf"]
    # The schemas say what the handlers accept: every property is taken, nothing else.
    for op in ops.values():
        unknown = {"device": "demo.player_1", "q": "x", "zzz": 1}
        with pytest.raises(Exception, match=r"unknown parameters .*'zzz'"):
            media_module._fields(unknown, op["parameters"])
        media_module._fields({k: None for k in op["parameters"]["properties"]},
                             op["parameters"])


# -- the cache -----------------------------------------------------------------------------------


async def test_answers_are_cached_briefly_for_everyone_and_dropped_after_an_action(hub_factory):
    shelf = Shelf(["Focus One", "Focus Two"])
    clock = ManualClock()
    harness = await _hub(hub_factory, {"shelf": shelf}, clock=clock)
    agent = await harness.token("agent", maturity="STUDENT")
    await _ok(harness, "/media/search?q=focus&plugin=shelf")
    await _ok(harness, "/media/search?q=focus&plugin=shelf", token=agent)  # another principal
    await _ok(harness, "/media/browse?device=shelf.box")
    await _ok(harness, "/media/browse?device=shelf.box")
    assert (shelf.searches, shelf.browses) == (1, 1)
    await _ok(harness, "/media/search?q=focus&plugin=shelf&limit=1")  # another key
    assert shelf.searches == 2
    await clock.advance(PluginInfo().media_cache_ttl + 1)
    await _ok(harness, "/media/search?q=focus&plugin=shelf")
    assert shelf.searches == 3
    # An action on one of the plugin's devices may change what it would answer.
    await harness.act("shelf.box", "play")
    await _ok(harness, "/media/search?q=focus&plugin=shelf")
    await _ok(harness, "/media/browse?device=shelf.box")
    assert (shelf.searches, shelf.browses) == (4, 2)
    # Errors are not kept; concurrent identical requests share one call.
    shelf.mode = "crash"
    for _ in range(2):
        status, _ = await harness.get("/media/search?q=other&plugin=shelf")
        assert status == 502
    assert shelf.searches == 6
    shelf.mode = "ok"
    answers = await asyncio.gather(*(harness.get("/media/search?q=two&plugin=shelf")
                                     for _ in range(5)))
    assert [a[0] for a in answers] == [200] * 5 and shelf.searches == 7


async def test_a_plugin_may_forbid_caching(hub_factory):
    class Uncached(Shelf):
        @hookimpl
        def describe(self) -> PluginInfo:
            return PluginInfo(media_cache_ttl=0)

    shelf = Uncached(["Focus"])
    harness = await _hub(hub_factory, {"shelf": shelf})
    for _ in range(3):
        await _ok(harness, "/media/search?q=focus&plugin=shelf")
    assert shelf.searches == 3


# -- WebSocket -----------------------------------------------------------------------------------


async def test_websocket_commands_answer_like_rest(hub_factory):
    harness = await _hub(hub_factory, {"slow": Shelf(["x"], "hang")},
                         _config("slow", slow={"timeout": 0.05}))
    ws = await harness.client.ws_connect("/ws")
    await ws.receive_json(timeout=RECEIVE_TIMEOUT)
    await ws.send_json({"type": "auth", "access_token": harness.owner_token})
    assert (await ws.receive_json(timeout=RECEIVE_TIMEOUT))["type"] == "auth_ok"

    async def call(msg_id: int, **fields) -> dict:
        await ws.send_json({"id": msg_id, **fields})
        while True:
            msg = await ws.receive_json(timeout=RECEIVE_TIMEOUT)
            if msg.get("id") == msg_id:
                return msg

    rest = await _ok(harness, "/media/search?q=focus&types=playlist,track&limit=5")
    got = await call(1, type="search_media", q="focus", types=["playlist", "track"], limit=5)
    assert got["success"] and got["result"]["results"] == rest["results"]
    assert [e["plugin"] for e in got["result"]["errors"]] == ["slow"]
    got = await call(2, type="browse_media", device="demo.player_1", item="demo:folder:tracks",
                     cursor="25")
    assert got["success"] and len(got["result"]["children"]) == 12
    assert got["result"]["cursor"] is None
    for msg_id, fields, code in (
            (3, {"type": "search_media", "q": "\ud800"}, "invalid_request"),
            (4, {"type": "search_media", "q": "x", "limit": True}, "invalid_request"),
            (5, {"type": "search_media", "q": "x", "types": "track,song"}, "invalid_request"),
            (6, {"type": "search_media", "q": ["x"]}, "invalid_request"),
            (7, {"type": "browse_media", "device": "demo.player_1", "item": {"a": 1}},
             "invalid_request"),
            (8, {"type": "browse_media", "device": "demo.nope"}, "unknown_device"),
            (9, {"type": "browse_media", "device": "slow.box"}, "timeout")):
        got = await call(msg_id, **fields)
        assert not got["success"] and got["error"]["code"] == code, (fields, got)
    await ws.send_str(json.dumps({"id": 10, "type": "search_media", "q": "\ud800"}))
    got = await ws.receive_json(timeout=RECEIVE_TIMEOUT)
    assert got["id"] == 10 and not got["success"]
    assert (await call(11, type="ping"))["result"] == "pong"
    await ws.close()
    assert ws.close_code == aiohttp.WSCloseCode.OK


async def test_identical_searches_in_flight_share_one_call(hub_factory):
    class Gate(Shelf):
        def __init__(self) -> None:
            super().__init__(["Gated"])
            self.open = asyncio.Event()

        @hookimpl
        async def search_media(self, ctx, query, types, limit, device):
            self.searches += 1
            await self.open.wait()
            return [self._item(ctx, 0)]

    gate = Gate()
    harness = await _hub(hub_factory, {"gate": gate})
    owner = harness.hub.tokens.authenticate(harness.owner_token)
    tasks = [asyncio.create_task(harness.hub.media.search(owner, {"q": "gated",
                                                                   "plugin": "gate"}))
             for _ in range(3)]
    for _ in range(20):  # let every task reach the plugin call (no I/O before it)
        await asyncio.sleep(0)
    assert gate.searches == 1
    tasks[0].cancel()  # one client going away does not cancel the call the others wait for
    gate.open.set()
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(answers[0], asyncio.CancelledError)
    assert [a["results"][0]["title"] for a in answers[1:]] == ["Gated", "Gated"]
    assert gate.searches == 1
