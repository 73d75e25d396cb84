"""The demo's media library through the hub's API: the whole tree, paging, search, covers, and
play_media with every kind of id."""

from __future__ import annotations

import pytest


@pytest.fixture
async def demo(hub_factory):
    return await hub_factory({"plugins": {"demo": {"players": 2}}}, only=["demo"])


async def browse(demo, item: str | None = None) -> list[dict]:
    """Every child of `item`, following cursors."""
    children, cursor = [], None
    for _ in range(10):
        path = "/media/browse?device=demo.player_1"
        path += f"&item={item}" if item else ""
        path += f"&cursor={cursor}" if cursor else ""
        status, body = await demo.get(path)
        assert status == 200, body
        children += body["children"]
        cursor = body["cursor"]
        if cursor is None:
            return children
    raise AssertionError("paging did not end")


async def test_the_whole_tree(demo):
    seen: dict[str, dict] = {}
    queue = await browse(demo)
    while queue:
        item = queue.pop()
        if item["id"] in seen:
            continue
        seen[item["id"]] = item
        assert item["plugin"] == "demo" and item["title"]
        if item["can_expand"]:
            queue += await browse(demo, item["id"])
    kinds: dict[str, int] = {}
    for item in seen.values():
        kinds[item["type"]] = kinds.get(item["type"], 0) + 1
    assert kinds == {"folder": 5, "artist": 7, "album": 8, "playlist": 2, "radio": 2,
                     "track": 37}
    for item in seen.values():
        if item["type"] != "folder":
            assert item["can_play"] and item["thumbnail"].startswith(demo.url), item
    status, body = await demo.get("/media/browse?device=demo.player_1&item=demo:track:1")
    assert status == 200 and body["children"] == [] and body["item"]["title"] == "Morning Light"


async def test_search_is_case_and_accent_insensitive(demo):
    async def titles(query: str) -> list[tuple[str, str]]:
        status, body = await demo.get(f"/media/search?q={query}")
        assert status == 200, body
        return [(r["type"], r["title"]) for r in body["results"]]

    assert (await titles("elodie"))[0] == ("artist", "Élodie Marchand")
    assert (await titles("CAFE"))[0] == ("track", "Café du matin")
    assert (await titles("soren aberg"))[0] == ("artist", "Søren Åberg")
    assert (await titles("pluie"))[:2] == [("track", "Pluie d'été"), ("album", "Après la pluie")]
    assert (await titles("paper"))[:2] == [("track", "Paper Boats"), ("track", "Paper Lantern")]
    assert await titles("nothing like this") == []
    _, body = await demo.get("/media/search?q=lanterns&types=album&limit=1")
    assert [(r["type"], r["subtitle"]) for r in body["results"]] == [
        ("album", "The Lanterns (2019)")]


async def test_play_every_kind_of_item(demo):
    async def play(media_id: str, enqueue: str = "replace") -> dict:
        status, body = await demo.act("demo.player_1", "play_media",
                                      {"media_id": media_id, "enqueue": enqueue})
        assert status == 200, body
        return body["state"]["attributes"]

    attrs = await play("demo:artist:1")  # The Lanterns: two albums
    assert attrs["queue_length"] == 10 and attrs["media_artist"] == "The Lanterns"
    attrs = await play("demo:playlist:focus")
    assert (attrs["media_title"], attrs["queue_length"]) == ("Focus Field", 12)
    attrs = await play("demo:album:5", enqueue="next")
    assert attrs["queue_length"] == 16 and attrs["media_title"] == "Focus Field"
    status, body = await demo.act("demo.player_1", "next")
    assert body["state"]["attributes"]["media_title"] == "Café du matin"
    assert body["state"]["attributes"]["media_album"] == "Après la pluie"
    attrs = await play("demo:radio:demo_fm", enqueue="play")
    assert attrs["media_title"] == "Demo FM" and "media_duration" not in attrs

    status, body = await demo.act("demo.player_1", "play_media",
                                  {"media_id": "demo:folder:albums"})
    assert status == 400 and body["error"]["code"] == "not_playable"
    status, body = await demo.act("demo.player_1", "play_media", {"media_id": "demo:track:99"})
    assert status == 404 and body["error"]["code"] == "unknown_media_item"


async def test_covers_are_served_without_a_token(demo):
    _, body = await demo.get("/media/search?q=tides&types=album")
    url = body["results"][0]["thumbnail"]
    async with demo.client.get(url[len(demo.url):]) as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        assert "Tides" in await resp.text()
    status, body = await demo.get("/integrations/demo/art/album-99.svg", token=None)
    assert status == 404 and body["error"]["code"] == "not_found"
