"""The Spotify media library through the hub's public API (GET /media/search, /media/browse,
POST /actions), beside the demo provider, against the fake Spotify: search, browse, expand,
page, play what was found, a failing Spotify next to a working provider, and a STUDENT who
may search but not play."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hub_spotify.testing.catalog import catalog
from hub_spotify.testing.linking import link, spotify_config

CAT = catalog()


@pytest.fixture
async def hub(hub_factory, fake, fake_url, clock, browser):
    harness = await hub_factory(
        {"plugins": {"spotify": spotify_config(fake_url), "demo": {"players": 1}}},
        only=["spotify", "demo"], clock=clock)
    await link(harness, browser, fake)
    return harness


async def ok(hub, path: str, token: str | bool = True, **query) -> dict:
    status, body = await hub.get(f"{path}?{urlencode(query)}", token=token)
    assert status == 200, body
    return body


async def test_search_browse_expand_page_and_play(hub, fake):
    found = await ok(hub, "/media/search", q="frahm", plugin="spotify", limit=8)
    assert found["errors"] == [] and len(found["results"]) == 8
    assert {r["plugin"] for r in found["results"]} == {"spotify"}
    artist = next(r for r in found["results"] if r["type"] == "artist"
                  and r["title"] == "Nils Frahm")

    root = await ok(hub, "/media/browse", device="spotify.alice")
    assert root["item"]["title"] == "Spotify (Alice)"
    assert [c["title"] for c in root["children"]] == [
        "Playlists", "Liked Songs", "Albums", "Artists", "Recently played", "Podcasts"]

    # Expand the artist: top tracks and the first ten albums, then the next page.
    first = await ok(hub, "/media/browse", device="spotify.alice", item=artist["id"])
    assert first["cursor"] and first["item"]["id"] == artist["id"]
    second = await ok(hub, "/media/browse", device="spotify.alice", item=artist["id"],
                      cursor=first["cursor"])
    albums = [c for c in first["children"] + second["children"] if c["type"] == "album"]
    assert len(albums) == 20 and len({a["id"] for a in albums}) == 20

    # Expand an album and play its third track, exactly as browse gave it.
    tracks = await ok(hub, "/media/browse", device="spotify.alice", item=albums[0]["id"])
    chosen = tracks["children"][2]
    status, body = await hub.act("spotify.alice", "play_media", {"media_id": chosen["id"]})
    assert status == 200, body
    attrs = body["state"]["attributes"]
    assert body["state"]["state"] == "playing"
    assert (attrs["media_title"], attrs["media_content_id"]) == (chosen["title"], chosen["id"])
    assert attrs["media_artist"] == "Nils Frahm"

    # The whole album, as a context.
    status, body = await hub.act("spotify.alice", "play_media", {"media_id": albums[0]["id"]})
    assert status == 200 and fake.users["alice"].context_uri == albums[0]["id"], body
    assert body["state"]["attributes"]["media_content_id"] == tracks["children"][0]["id"]


async def test_liked_songs_page_to_the_end_over_rest(hub, fake):
    ids, cursor = [], None
    for _ in range(20):
        page = await ok(hub, "/media/browse", device="spotify.alice", item="library:tracks",
                        **({"cursor": cursor} if cursor else {}))
        ids += [c["id"] for c in page["children"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert ids == [f"spotify:track:{t}" for t, _ in fake.users["alice"].library.saved_tracks]
    status, body = await hub.get("/media/browse?device=spotify.alice&item=library:tracks"
                                 "&cursor=banana")
    assert status == 400 and body["error"]["code"] == "invalid_cursor"
    assert body["error"]["plugin"] == "spotify"
    status, body = await hub.get("/media/browse?device=spotify.alice"
                                 "&item=spotify:album:0000000000000000000000")
    assert status == 404 and body["error"]["code"] == "unknown_media_item"
    assert body["error"]["plugin"] == "spotify"


async def test_search_across_providers_and_a_failing_spotify(hub, fake):
    both = await ok(hub, "/media/search", q="focus")
    assert {r["plugin"] for r in both["results"]} == {"spotify", "demo"}
    fake.fail_next(429, retry_after=30, path="/v1/search")  # longer than a browse waits
    body = await ok(hub, "/media/search", q="tides")  # not "focus": that one is cached
    assert {r["plugin"] for r in body["results"]} == {"demo"}
    [error] = body["errors"]
    assert (error["plugin"], error["code"]) == ("spotify", "rate_limited")
    # Asked of Spotify alone, its error is the answer, with Retry-After.
    status, body = await hub.get("/media/search?q=quiet&plugin=spotify")
    assert status == 429 and body["error"]["retry_after"] <= 30, body


async def test_a_student_may_search_and_browse_but_not_play(hub, fake):
    student = await hub.token("learner", maturity="STUDENT")
    found = await ok(hub, "/media/search", token=student, q="history", types="episode",
                     plugin="spotify", limit=3)
    assert [r["type"] for r in found["results"]] == ["episode"] * 3
    await ok(hub, "/media/browse", token=student, device="spotify.alice",
             item="library:podcasts")
    status, body = await hub.act("spotify.alice", "play_media",
                                 {"media_id": found["results"][0]["id"]}, token=student)
    assert status == 403 and body["error"]["required"] == "SUPERVISED", body
    assert not fake.users["alice"].is_playing


async def test_the_spotify_provider_is_in_the_catalog(hub):
    body = await ok(hub, "/actions/catalog", device="spotify.alice")
    assert {m["name"] for m in body["media"]} == {"browse_media", "search_media"}
