"""The Spotify media library (browse_media, search_media) against the fake's catalogue, and
every item it hands out played unchanged through play_media.

The core's REST and WebSocket side of the media library is built in parallel; until it lands
these tests call the hooks through the plugin manager of a running hub, the way the core
will, and play through POST /actions.
"""

from __future__ import annotations

import pytest
from hub_spotify.media import FOLDERS
from hub_spotify.testing import FakeDevice
from hub_spotify.testing.catalog import catalog, iso, library_for
from hub_spotify.testing.linking import KITCHEN, LAPTOP, link, spotify_config, start_hub

from hub.plugin import (
    BrowseResult,
    Conflict,
    Forbidden,
    InvalidRequest,
    MediaItem,
    NotFound,
    RateLimited,
)

CAT = catalog()


@pytest.fixture
async def hub(hub_factory, fake, fake_url, clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    return harness


async def browse(hub, item_id: str | None = None, cursor: str | None = None,
                 device: str = "spotify.alice") -> BrowseResult:
    plugins = hub.hub.plugins
    return await plugins.call("spotify", "browse_media", ctx=plugins.plugins["spotify"].ctx,
                              device=hub.hub.registry.get(device), item_id=item_id,
                              cursor=cursor)


async def browse_all(hub, item_id: str, device: str = "spotify.alice") -> list[MediaItem]:
    """Every child of an item, following the cursors to the end (bounded)."""
    children: list[MediaItem] = []
    cursor = None
    for _ in range(50):
        page = await browse(hub, item_id, cursor, device)
        children += page.children
        cursor = page.cursor
        if cursor is None:
            return children
    raise AssertionError("paging did not end")


async def search(hub, query: str, types=None, limit: int = 20,
                 device: str | None = "spotify.alice") -> list[MediaItem]:
    plugins = hub.hub.plugins
    return await plugins.call("spotify", "search_media", ctx=plugins.plugins["spotify"].ctx,
                              query=query, types=frozenset(types) if types else None,
                              limit=limit,
                              device=hub.hub.registry.get(device) if device else None)


def sent(fake, path: str) -> list:
    return [e for e in fake.exchanges if e.path == path]


def artist_named(name: str):
    return next(a for a in CAT.artists.values() if a.name == name)


async def test_the_root_lists_the_library(hub):
    root = await browse(hub)
    assert root.item.type == "folder" and root.item.title == "Spotify (Alice)"
    assert [c.id for c in root.children] == list(FOLDERS)
    assert all(c.can_expand and not c.can_play for c in root.children)
    assert root.cursor is None
    assert (await browse(hub, "library")).children == root.children


@pytest.mark.parametrize("folder,count,pages", [
    ("library:playlists", 120, 3),
    ("library:tracks", 320, 7),
    ("library:albums", 75, 2),
    ("library:artists", 64, 2),  # cursor paging by the last artist's id
    ("library:podcasts", 12, 1),
])
async def test_every_folder_pages_to_its_end(hub, fake, folder, count, pages):
    before = len(fake.exchanges)
    items = await browse_all(hub, folder)
    assert len(items) == count and len({i.id for i in items}) == count
    assert len(fake.exchanges) - before == pages
    assert all(i.thumbnail and i.thumbnail.startswith("https://i.scdn.co/") for i in items)
    library = fake.users["alice"].library
    if folder == "library:tracks":
        assert [i.id for i in items] == [f"spotify:track:{t}" for t, _ in library.saved_tracks]
        assert all(i.type == "track" and i.can_play and not i.can_expand and i.duration
                   and i.subtitle for i in items)
    if folder == "library:artists":
        assert [i.id for i in items] == [f"spotify:artist:{a}"
                                         for a in library.followed_artists]


async def test_recently_played_pages_back_in_time(hub, fake, clock):
    """Spotify keeps 50 plays; a longer history here exercises the `before` cursor."""
    albums = list(CAT.albums.values())
    fake.users["alice"].library.recently_played = [
        (albums[k].track_ids[0], clock.time() - 60 * (k + 1), None) for k in range(120)]
    items = await browse_all(hub, "library:recent")
    assert [i.id for i in items] == [f"spotify:track:{a.track_ids[0]}" for a in albums[:120]]
    befores = [e.query.get("before") for e in sent(fake, "/v1/me/player/recently-played")]
    assert befores[0] is None and all(b and b.isdigit() for b in befores[1:])


async def test_an_album_lists_its_tracks_with_its_cover(hub, fake):
    album = next(a for a in CAT.albums.values() if a.album_type == "compilation")
    page = await browse(hub, f"spotify:album:{album.id}")
    assert page.item.title == album.name and page.item.type == "album"
    assert page.item.can_play and page.item.can_expand
    assert [c.id for c in page.children] == [f"spotify:track:{t}" for t in album.track_ids]
    assert {c.thumbnail for c in page.children} == {page.item.thumbnail}
    assert page.children[0].duration == CAT.tracks[album.track_ids[0]].duration_ms / 1000


async def test_a_long_playlist_and_a_long_show_page(hub, fake):
    focus = CAT.playlists[fake.users["alice"].library.playlists[0]]
    assert focus.name == "Focus" and len(focus.uris) == 230
    items = await browse_all(hub, f"spotify:playlist:{focus.id}")
    assert [i.id for i in items] == focus.uris
    show = max(CAT.shows.values(), key=lambda s: len(s.episode_ids))
    items = await browse_all(hub, f"spotify:show:{show.id}")
    assert [i.id for i in items] == [f"spotify:episode:{e}" for e in show.episode_ids]
    assert all(i.type == "episode" and i.subtitle == show.name for i in items)
    mixed = CAT.playlists[fake.users["alice"].library.playlists[3]]
    types = {i.type for i in await browse_all(hub, f"spotify:playlist:{mixed.id}")}
    assert types == {"track", "episode"}


async def test_an_artist_shows_top_tracks_then_albums(hub, fake):
    """A development-mode app has lost the top-tracks endpoint (2026): the plugin asks the
    search for the artist's tracks instead, and remembers not to ask again."""
    artist = artist_named("Nils Frahm")
    first = await browse(hub, f"spotify:artist:{artist.id}")
    assert first.item.title == "Nils Frahm" and first.item.type == "artist"
    tracks = [c for c in first.children if c.type == "track"]
    albums = [c for c in first.children if c.type == "album"]
    assert 1 <= len(tracks) <= 10 and len(albums) == 10 and first.cursor
    assert [e.status for e in sent(fake, f"/v1/artists/{artist.id}/top-tracks")] == [403]
    rest = await browse_all(hub, f"spotify:artist:{artist.id}")
    assert len([c for c in rest if c.type == "album"]) == len(artist.album_ids) == 23
    assert len(sent(fake, f"/v1/artists/{artist.id}/top-tracks")) == 1  # not asked again


async def test_an_app_with_extended_quota_gets_real_top_tracks(hub, fake):
    fake.extended_quota = True
    artist = artist_named("Ada Lindqvist")
    page = await browse(hub, f"spotify:artist:{artist.id}")
    tracks = [c.id for c in page.children if c.type == "track"]
    assert tracks == [f"spotify:track:{t.id}" for t in CAT.top_tracks(artist.id)]


async def test_playlists_of_others_play_but_do_not_expand(hub, fake):
    """Spotify lists the items only of playlists the account owns or collaborates on."""
    items = await browse_all(hub, "library:playlists")
    own = [i for i in items if i.subtitle == "Alice"]
    others = [i for i in items if i.subtitle != "Alice"]
    assert len(own) == 25 and all(i.can_expand for i in own)
    closed = [i for i in others if not i.can_expand]
    collaborative = [i for i in others if i.can_expand]
    assert closed and collaborative and all(i.can_play for i in others)
    with pytest.raises(Forbidden) as err:
        await browse(hub, closed[0].id)
    assert err.value.code == "playlist_not_browsable" and "played" in err.value.message
    assert (await browse(hub, collaborative[0].id)).children


@pytest.mark.parametrize("kind", ["track", "episode", "album", "playlist", "artist",
                                  "podcast"])
async def test_every_item_plays_unchanged(hub, fake, kind):
    """An id from browse or search is a media_id for play_media as it is."""
    query = {"track": "quiet", "episode": "history", "album": "glass", "playlist": "mix",
             "artist": "frahm", "podcast": "cooking"}[kind]
    [item] = await search(hub, query, types=[kind], limit=1)
    assert item.type == kind and item.can_play
    status, body = await hub.act("spotify.alice", "play_media", {"media_id": item.id})
    assert status == 200, body
    user = fake.users["alice"]
    assert user.is_playing
    if kind in ("track", "episode"):
        assert user.tracks == [item.id] and user.context_uri is None
        assert body["state"]["attributes"]["media_content_id"] == item.id
        assert body["state"]["attributes"]["media_title"] == item.title
    else:
        assert user.context_uri == item.id
        first = CAT.context_uris(item.id)[0]
        assert body["state"]["attributes"]["media_content_id"] == first


async def test_queueing_what_spotify_can_queue(hub, fake):
    [track] = await search(hub, "quiet", types=["track"], limit=1)
    [episode] = await search(hub, "history", types=["episode"], limit=1)
    [album] = await search(hub, "glass", types=["album"], limit=1)
    await hub.act("spotify.alice", "play_media", {"media_id": album.id})
    for item, mode in ((track, "add"), (episode, "next")):
        status, body = await hub.act("spotify.alice", "play_media",
                                     {"media_id": item.id, "enqueue": mode})
        assert status == 200 and body["result"]["queued"] == item.id, body
    assert fake.users["alice"].queue == [track.id, episode.id]
    status, body = await hub.act("spotify.alice", "play_media",
                                 {"media_id": album.id, "enqueue": "add"})
    assert status == 400 and body["error"]["code"] == "cannot_queue"


async def test_search_ranks_across_types_and_respects_the_limit(hub, fake):
    results = await search(hub, "frahm", limit=12)
    assert len(results) == 12
    assert results[0].type == "track"  # each type's best first, in turn
    assert {r.type for r in results} >= {"track", "artist", "album"}
    [request] = sent(fake, "/v1/search")
    assert set(request.query["type"].split(",")) == {"track", "artist", "album", "playlist",
                                                     "show", "episode"}
    assert request.query["limit"] == "10"  # Spotify's maximum since 2026


async def test_a_long_search_of_one_type_pages(hub, fake):
    results = await search(hub, "quiet", types=["track"], limit=35)
    assert len(results) == 35 and len({r.id for r in results}) == 35
    assert [e.query["offset"] for e in sent(fake, "/v1/search")] == ["0", "10", "20", "30"]
    expected = [f"spotify:track:{t.id}" for t in CAT.search("track", "quiet")[:35]]
    assert [r.id for r in results] == expected


async def test_search_types_that_spotify_lacks_find_nothing(hub, fake):
    assert await search(hub, "jazz", types=["radio", "favorite"]) == []
    assert not sent(fake, "/v1/search")
    shows = await search(hub, "hour", types=["podcast"], limit=5)
    assert shows and {s.type for s in shows} == {"podcast"}
    assert sent(fake, "/v1/search")[-1].query["type"] == "show"


async def test_search_without_a_device_uses_a_linked_account(hub_factory, fake, fake_url,
                                                             clock, browser):
    harness = await start_hub(hub_factory, fake_url, clock)
    with pytest.raises(Conflict) as err:
        await search(harness, "frahm", device=None)
    assert err.value.code == "not_linked"
    await link(harness, browser, fake)
    assert await search(harness, "frahm", device=None)


async def test_each_account_browses_its_own_library(hub_factory, fake, fake_url, clock,
                                                    browser):
    fake.add_user("carol", "Carol", library=True,
                  devices=[FakeDevice("carolpad", "Carol's iPad", "Tablet")],
                  active_device="carolpad")
    harness = await start_hub(hub_factory, fake_url, clock)
    await link(harness, browser, fake)
    await link(harness, browser, fake, "carol")
    alice = await browse(harness, "library:playlists", device=f"spotify.alice.{LAPTOP.lower()}")
    carol = await browse(harness, "library:playlists", device="spotify.carol")
    assert alice.children[0].title == "Focus" and alice.children[1].subtitle == "Alice"
    assert carol.children[1].subtitle == "Carol"
    assert {c.id for c in alice.children[:25]}.isdisjoint(c.id for c in carol.children[:25])
    assert (await browse(harness, device="spotify.carol")).item.title == "Spotify (Carol)"


async def test_bad_ids_and_cursors(hub):
    for item_id in ("spotify:album:nope", "spotify:playlist:nope", "spotify:artist:nope",
                    "spotify:show:nope"):
        with pytest.raises(NotFound) as err:
            await browse(hub, item_id)
        assert err.value.code == "unknown_media_item"
    for item_id in ("library:everything", "spotify:album:../../me", "x" * 5000, "\udcff"):
        with pytest.raises(NotFound):
            await browse(hub, item_id)
    track = next(iter(CAT.tracks.values()))
    leaf = await browse(hub, f"spotify:track:{track.id}")  # itself, no children
    assert (leaf.item.title, leaf.children, leaf.cursor) == (track.name, [], None)
    first = await browse(hub, "library:tracks")
    for cursor in ("garbage!", first.cursor[:-2] + "zz", "b2Zmc2V0Oi0x"):  # "offset:-1"
        with pytest.raises(InvalidRequest) as err:
            await browse(hub, "library:tracks", cursor)
        assert err.value.code == "invalid_cursor"
    with pytest.raises(InvalidRequest):
        await browse(hub, "library:artists", first.cursor)  # another listing's cursor
    for query in ("   ", "x" * 501, "lone \udcff surrogate", "bell\x07", "new\nline"):
        with pytest.raises(InvalidRequest) as err:
            await search(hub, query)
        assert err.value.code == "invalid_query"
    assert (await search(hub, "Ünïcødé 音楽 'quoted' \"artist\"")) == []  # sent and found none


async def test_a_rate_limited_search_answers_429_and_spends_no_more_quota(hub, fake, clock):
    fake.fail_next(429, retry_after=30, path="/v1/search")
    with pytest.raises(RateLimited) as err:
        await search(hub, "frahm")
    assert err.value.retry_after == 30
    with pytest.raises(RateLimited):
        await browse(hub, "library:tracks")  # the same account: answered by the hub
    assert not sent(fake, "/v1/me/tracks")
    await clock.advance(30)
    assert (await browse(hub, "library:tracks")).children


async def test_an_account_linked_before_the_library_scopes_is_told_to_relink(
        hub_factory, fake, fake_url, clock, browser, tmp_path):
    """Accounts linked by a version without the media library lack its scopes: Spotify
    answers 403 "Insufficient client scope", and the hub says to link again."""
    old = ["user-read-private", "user-read-playback-state", "user-modify-playback-state",
           "user-read-currently-playing"]
    data_dir = tmp_path / "kept"
    before = await hub_factory({"plugins": {"spotify": spotify_config(fake_url, scopes=old)}},
                               only=["spotify"], clock=clock, data_dir=data_dir)
    await link(before, browser, fake)
    await before.client.close()
    harness = await hub_factory({"plugins": {"spotify": spotify_config(fake_url)}},
                                only=["spotify"], clock=clock, data_dir=data_dir)
    with pytest.raises(Conflict) as err:
        await browse(harness, "library:tracks")
    assert err.value.code == "insufficient_scope" and "hub spotify link" in err.value.message
    assert (await harness.act("spotify.alice", "pause"))[0] == 200  # playback still works

    async def missing() -> list[str]:
        _, body = await harness.get("/plugins")
        [account] = next(p for p in body["plugins"] if p["name"] == "spotify")["details"][
            "accounts"]
        return account["missing_scopes"]

    assert "user-library-read" in await missing()
    await link(harness, browser, fake)
    assert await missing() == []
    assert (await browse(harness, "library:tracks")).children


async def test_affected_devices_name_what_moving_playback_touches(hub):
    plugins = hub.hub.plugins
    ctx = plugins.plugins["spotify"].ctx
    kitchen, laptop = f"spotify.alice.{KITCHEN}", f"spotify.alice.{LAPTOP.lower()}"

    async def affected(device: str, action: str, params: dict | None = None) -> list[str]:
        return await plugins.call("spotify", "affected_devices", ctx=ctx,
                                  device=hub.hub.registry.get(device), action=action,
                                  params=params or {})

    assert await affected("spotify.alice", "select_source", {"source": "Laptop"}) == sorted(
        ["spotify.alice", kitchen, laptop])
    assert await affected("spotify.alice", "pause") == sorted(["spotify.alice", kitchen])
    assert await affected(laptop, "volume_set", {"volume": 3}) == [laptop]
    assert await affected(laptop, "play") == sorted(["spotify.alice", kitchen, laptop])
    assert await affected(laptop, "play_media", {"media_id": "spotify:track:x",
                                                 "enqueue": "add"}) == [laptop]
    assert await affected(kitchen, "pause") == sorted(["spotify.alice", kitchen])


def test_the_fake_library_is_big_enough_to_page():
    library = library_for("someone", "Someone", 1_800_000_000)
    assert len(library.playlists) == 120 and len(library.saved_tracks) == 320
    assert len(CAT.tracks) > 3000 and len(CAT.episodes) > 1000
    assert iso(0) == "1970-01-01T00:00:00Z"
