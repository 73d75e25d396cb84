"""The Spotify media library: `browse_media` and `search_media` for linked accounts.

Ids are what `play_media` takes unchanged: Spotify URIs for everything playable
(`spotify:track:…`, `…:episode:…` play as `uris`; `…:album:…`, `…:playlist:…`,
`…:artist:…`, `…:show:…` as a `context_uri`). The library's folders have ids of their own
(`library`, `library:playlists`, …) that only browse takes.

    library                    the account's root
      library:playlists        GET /me/playlists              (offset paging)
      library:tracks           GET /me/tracks  "Liked Songs"  (offset paging)
      library:albums           GET /me/albums                 (offset paging)
      library:artists          GET /me/following?type=artist  (cursor paging by artist id)
      library:recent           GET /me/player/recently-played (cursor paging by time)
      library:podcasts         GET /me/shows                  (offset paging)
    spotify:album:ID           GET /albums/{id}, then /albums/{id}/tracks
    spotify:playlist:ID        GET /playlists/{id}/items (only playlists the account owns
                               or collaborates on: Spotify's rule since February 2026)
    spotify:artist:ID          top tracks (GET /artists/{id}/top-tracks, or a search
                               `artist:"name"` where Spotify removed that endpoint for the
                               app), then GET /artists/{id}/albums, 10 a page
    spotify:show:ID            GET /shows/{id}, then /shows/{id}/episodes

Whose library: the account of the device it is browsed on (`spotify.<account>` and its
Connect devices). A search with no device uses the first linked account; what it finds is
Spotify's catalogue and plays on any account's device.

Spotify's paging (offsets, `after` ids, `before` timestamps) becomes an opaque cursor; every
request goes through the client, so rate limits and retries are those of the actions, except
that a browse never waits more than MEDIA_WAIT_CAP for a Retry-After: a person or an agent
is waiting, so it answers 429 with the time to wait instead.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from hub.plugin import (
    BrowseResult,
    Conflict,
    Forbidden,
    InvalidRequest,
    MediaItem,
    NotFound,
)
from hub_spotify.client import SpotifyClient

PAGE = 50  # the most Spotify gives per request on library and item endpoints
ARTIST_ALBUMS_PAGE = 10  # GET /artists/{id}/albums takes at most 10 since February 2026
SEARCH_PAGE = 10  # GET /search takes at most 10 per type since February 2026
SEARCH_REQUESTS = 5  # the most pages one search fetches (limit 50 of one type)
MEDIA_WAIT_CAP = 1.0
MAX_QUERY = 500  # Spotify documents none; longer is no search a person or agent means
CACHE_SIZE = 4096

ROOT = "library"
FOLDERS = {
    "library:playlists": "Playlists",
    "library:tracks": "Liked Songs",
    "library:albums": "Albums",
    "library:artists": "Artists",
    "library:recent": "Recently played",
    "library:podcasts": "Podcasts",
}
ITEM_ID = re.compile(r"spotify:(track|episode|album|artist|playlist|show):([0-9A-Za-z]{1,64})")
# hub media type -> Spotify search type, in the order results are interleaved
SEARCH_TYPES = {"track": "track", "artist": "artist", "album": "album",
                "playlist": "playlist", "podcast": "show", "episode": "episode"}
THUMBNAIL_WIDTH = 250  # the smallest image at least this wide; else the largest


class MediaLibrary:
    def __init__(self, client: SpotifyClient) -> None:
        self._client = client
        # Items seen recently, so browsing page 2 of an album does not fetch the album again.
        self._items: OrderedDict[str, MediaItem] = OrderedDict()
        self._top_tracks_removed = False  # Spotify answered 403/404: use search instead

    # -- browse -------------------------------------------------------------------------------

    async def browse(self, account: str, *, user_id: str, name: str, item_id: str | None,
                     cursor: str | None) -> BrowseResult:
        if item_id in (None, ROOT):
            if cursor:
                raise InvalidRequest("the library's root has one page", code="invalid_cursor")
            return BrowseResult(
                MediaItem(ROOT, f"Spotify ({name})", "folder", can_expand=True),
                [_folder(folder_id, title) for folder_id, title in FOLDERS.items()])
        assert item_id is not None
        if item_id in FOLDERS:
            return await self._browse_folder(account, user_id, item_id, cursor)
        match = ITEM_ID.fullmatch(item_id)
        if match is None:
            raise NotFound(f"Spotify has no media item {item_id[:100]!r}",
                           code="unknown_media_item")
        kind, spotify_id = match.groups()
        if kind in ("track", "episode"):
            return await self._browse_leaf(account, kind, spotify_id)
        browse = {"album": self._browse_album, "playlist": self._browse_playlist,
                  "artist": self._browse_artist, "show": self._browse_show}[kind]
        return await browse(account, user_id, spotify_id, cursor)

    async def _browse_folder(self, account: str, user_id: str, folder_id: str,
                             cursor: str | None) -> BrowseResult:
        item = _folder(folder_id, FOLDERS[folder_id])
        if folder_id == "library:artists":
            after = _cursor_id(cursor)
            data = await self._get(account, "/me/following", type="artist", limit=PAGE,
                                   after=after)
            page = _dict(data, "artists")
            children = [self._artist(a) for a in _items(page)]
            next_after = _dict(page, "cursors").get("after")
            return BrowseResult(item, children,
                                _encode("id", next_after) if page.get("next") and
                                isinstance(next_after, str) else None)
        if folder_id == "library:recent":
            before = _cursor_number(cursor, "before")
            data = await self._get(account, "/me/player/recently-played", limit=PAGE,
                                   before=before)
            children = [self._track(p.get("track")) for p in _items(data)]
            oldest = _dict(data, "cursors").get("before")
            return BrowseResult(item, _present(children),
                                _encode("before", oldest) if data.get("next") and
                                str(oldest or "").isdigit() else None)
        offset = _cursor_number(cursor, "offset") or 0
        path, key, make = {
            "library:playlists": ("/me/playlists", None,
                                  lambda p: self._playlist(p, user_id)),
            "library:tracks": ("/me/tracks", "track", self._track),
            "library:albums": ("/me/albums", "album", self._album),
            "library:podcasts": ("/me/shows", "show", self._show),
        }[folder_id]
        data = await self._get(account, path, limit=PAGE, offset=offset)
        children = [make(entry.get(key) if key else entry) for entry in _items(data)]
        return BrowseResult(item, _present(children), _next_offset(data, offset))

    async def _browse_album(self, account: str, user_id: str, album_id: str,
                            cursor: str | None) -> BrowseResult:
        item, tracks, offset = await self._with_first_page(account, "album", album_id,
                                                           "tracks", self._album, cursor)
        # An album's tracks come without the album: they share its cover.
        children = [self._track(t, thumbnail=item.thumbnail) for t in _items(tracks)]
        return BrowseResult(item, _present(children), _next_offset(tracks, offset))

    async def _with_first_page(self, account: str, kind: str, spotify_id: str, children: str,
                               make: Any, cursor: str | None
                               ) -> tuple[MediaItem, dict[str, Any], int]:
        """An album or show and one page of its tracks or episodes. The first page comes
        inside the album or show itself; later ones from `/{kind}s/{id}/{children}`, with
        the item from the cache when it is there."""
        offset = _cursor_number(cursor, "offset") or 0
        uri = f"spotify:{kind}:{spotify_id}"
        item = self._items.get(uri) if offset else None
        page: dict[str, Any] = {}
        if item is None:
            data = await self._get(account, f"/{kind}s/{spotify_id}")
            item, page = make(data), _dict(data, children)
        if offset:
            page = await self._get(account, f"/{kind}s/{spotify_id}/{children}", limit=PAGE,
                                   offset=offset)
        return _expandable(item, uri), page, offset

    async def _browse_playlist(self, account: str, user_id: str, playlist_id: str,
                               cursor: str | None) -> BrowseResult:
        offset = _cursor_number(cursor, "offset") or 0
        uri = f"spotify:playlist:{playlist_id}"
        item = self._items.get(uri) or _expandable(
            self._playlist(await self._get(account, f"/playlists/{playlist_id}"), user_id), uri)
        try:
            data = await self._get(account, f"/playlists/{playlist_id}/items", limit=PAGE,
                                   offset=offset, additional_types="track,episode")
        except Conflict as err:
            if err.code != "command_refused":
                raise
            raise Forbidden(
                "Spotify lists the tracks only of playlists the account owns or collaborates "
                "on; this one can still be played", code="playlist_not_browsable") from None
        children = []
        for entry in _items(data):
            if entry.get("is_local"):
                continue  # local files cannot be played through the Web API
            content = entry.get("item") or entry.get("track")  # "track" before 2026
            if isinstance(content, dict) and content.get("type") == "episode":
                children.append(self._episode(content))
            else:
                children.append(self._track(content))
        return BrowseResult(_expandable(item, uri), _present(children),
                            _next_offset(data, offset))

    async def _browse_artist(self, account: str, user_id: str, artist_id: str,
                             cursor: str | None) -> BrowseResult:
        offset = _cursor_number(cursor, "offset") or 0
        uri = f"spotify:artist:{artist_id}"
        item = self._items.get(uri) or _expandable(
            self._artist(await self._get(account, f"/artists/{artist_id}")), uri)
        children: list[MediaItem | None] = []
        if offset == 0:
            children += await self._top_tracks(account, artist_id, item.title)
        albums = await self._get(account, f"/artists/{artist_id}/albums",
                                 include_groups="album,single,compilation",
                                 limit=ARTIST_ALBUMS_PAGE, offset=offset)
        children += [self._album(a) for a in _items(albums)]
        return BrowseResult(_expandable(item, uri), _present(children),
                            _next_offset(albums, offset))

    async def _top_tracks(self, account: str, artist_id: str,
                          name: str) -> list[MediaItem | None]:
        if not self._top_tracks_removed:
            try:
                data = await self._get(account, f"/artists/{artist_id}/top-tracks")
                return [self._track(t) for t in _list(data, "tracks")]
            except Conflict as err:
                # Removed for development-mode apps in 2026: Spotify answers 403 (or 404).
                if err.code not in ("command_refused", "spotify_not_found"):
                    raise
                self._top_tracks_removed = True
        data = await self._get(account, "/search", q=f'artist:"{name}"', type="track",
                               limit=SEARCH_PAGE)
        return [self._track(t) for t in _items(_dict(data, "tracks"))
                if isinstance(t, dict) and any(
                    isinstance(a, dict) and a.get("id") == artist_id
                    for a in t.get("artists") or [])]

    async def _browse_show(self, account: str, user_id: str, show_id: str,
                           cursor: str | None) -> BrowseResult:
        item, episodes, offset = await self._with_first_page(account, "show", show_id,
                                                             "episodes", self._show, cursor)
        children = [self._episode(e, show=item.title) for e in _items(episodes)]
        return BrowseResult(item, _present(children), _next_offset(episodes, offset))

    async def _browse_leaf(self, account: str, kind: str, spotify_id: str) -> BrowseResult:
        """A track or episode: the item itself and no children, as the hub's API answers
        for anything that cannot be expanded."""
        uri = f"spotify:{kind}:{spotify_id}"
        item = self._items.get(uri)
        if item is None:
            data = await self._get(account, f"/{kind}s/{spotify_id}")
            item = self._track(data) if kind == "track" else self._episode(data)
        if item is None:
            raise NotFound("Spotify did not describe this item", code="unknown_media_item")
        return BrowseResult(item, [])

    # -- search -------------------------------------------------------------------------------

    async def search(self, account: str, *, user_id: str, query: str,
                     types: Iterable[str] | None, limit: int) -> list[MediaItem]:
        query = query.strip()
        if not query:
            raise InvalidRequest("the search query is empty", code="invalid_query")
        if len(query) > MAX_QUERY or not _text(query):
            raise InvalidRequest(f"the search query must be text of at most {MAX_QUERY} "
                                 "characters", code="invalid_query")
        wanted = [hub for hub in SEARCH_TYPES if types is None or hub in types]
        if not wanted or limit < 1:
            return []  # radio, favorites, folders: Spotify has none
        spotify_types = [SEARCH_TYPES[hub] for hub in wanted]
        per_type = min(SEARCH_PAGE, limit)
        # One type can fill the limit with more pages; several share one request.
        pages = min(SEARCH_REQUESTS, -(-limit // SEARCH_PAGE)) if len(wanted) == 1 else 1
        found: dict[str, list[MediaItem | None]] = {t: [] for t in spotify_types}
        for page in range(pages):
            data = await self._get(account, "/search", q=query, type=",".join(spotify_types),
                                   limit=per_type, offset=page * SEARCH_PAGE)
            more = False
            for kind in spotify_types:
                results = _dict(data, kind + "s")
                found[kind] += [self._make(kind, x, user_id) for x in _items(results)]
                more = more or bool(results.get("next"))
            if not more:
                break
        # Best first: Spotify ranks within each type, so take the types' ranks in turn.
        ranked: list[MediaItem] = []
        lists = [_present(found[kind]) for kind in spotify_types]
        for rank in range(max((len(x) for x in lists), default=0)):
            ranked += [x[rank] for x in lists if rank < len(x)]
        return ranked[:limit]

    def _make(self, kind: str, data: Any, user_id: str) -> MediaItem | None:
        if kind == "playlist":
            return self._playlist(data, user_id)
        return {"track": self._track, "album": self._album, "artist": self._artist,
                "show": self._show, "episode": self._episode}[kind](data)

    # -- Spotify's objects as media items -------------------------------------------------------

    def _track(self, data: Any, *, thumbnail: str | None = None) -> MediaItem | None:
        if not _has_uri(data, "track"):
            return None
        album_data = data.get("album") if isinstance(data.get("album"), dict) else {}
        return self._remember(MediaItem(
            data["uri"], str(data.get("name") or data["uri"]), "track",
            subtitle=_names(data.get("artists")),
            duration=_seconds(data.get("duration_ms")),
            thumbnail=_thumbnail(album_data.get("images")) or thumbnail,
            can_play=True))

    def _episode(self, data: Any, *, show: str | None = None) -> MediaItem | None:
        if not _has_uri(data, "episode"):
            return None
        show_data = data.get("show") if isinstance(data.get("show"), dict) else {}
        return self._remember(MediaItem(
            data["uri"], str(data.get("name") or data["uri"]), "episode",
            subtitle=show_data.get("name") or show,
            duration=_seconds(data.get("duration_ms")),
            thumbnail=_thumbnail(data.get("images")), can_play=True))

    def _album(self, data: Any) -> MediaItem | None:
        if not _has_uri(data, "album"):
            return None
        return self._remember(MediaItem(
            data["uri"], str(data.get("name") or data["uri"]), "album",
            subtitle=_names(data.get("artists")), thumbnail=_thumbnail(data.get("images")),
            can_play=True, can_expand=True))

    def _artist(self, data: Any) -> MediaItem | None:
        if not _has_uri(data, "artist"):
            return None
        return self._remember(MediaItem(
            data["uri"], str(data.get("name") or data["uri"]), "artist",
            thumbnail=_thumbnail(data.get("images")), can_play=True, can_expand=True))

    def _playlist(self, data: Any, user_id: str) -> MediaItem | None:
        if not _has_uri(data, "playlist"):
            return None
        owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}
        # Spotify lists the items only of the account's own and collaborative playlists.
        expandable = owner.get("id") == user_id or bool(data.get("collaborative"))
        return self._remember(MediaItem(
            data["uri"], str(data.get("name") or data["uri"]), "playlist",
            subtitle=owner.get("display_name") or owner.get("id"),
            thumbnail=_thumbnail(data.get("images")), can_play=True,
            can_expand=expandable))

    def _show(self, data: Any) -> MediaItem | None:
        if not _has_uri(data, "show"):
            return None
        return self._remember(MediaItem(
            data["uri"], str(data.get("name") or data["uri"]), "podcast",
            subtitle=data.get("publisher") or None, thumbnail=_thumbnail(data.get("images")),
            can_play=True, can_expand=True))

    def _remember(self, item: MediaItem) -> MediaItem:
        self._items[item.id] = item
        self._items.move_to_end(item.id)
        while len(self._items) > CACHE_SIZE:
            self._items.popitem(last=False)
        return item

    # -- requests ---------------------------------------------------------------------------

    async def _get(self, account: str, path: str, **params: Any) -> dict[str, Any]:
        try:
            data = await self._client.call(account, "GET", path, params=params,
                                           wait_cap=MEDIA_WAIT_CAP)
        except Conflict as err:
            if err.code == "spotify_not_found":
                raise NotFound("Spotify does not have this item (any more)",
                               code="unknown_media_item") from None
            raise
        return data if isinstance(data, dict) else {}


# -- helpers --------------------------------------------------------------------------------


def _folder(folder_id: str, title: str) -> MediaItem:
    return MediaItem(folder_id, title, "folder", can_expand=True)


def _expandable(item: MediaItem | None, uri: str) -> MediaItem:
    if item is None:
        raise NotFound("Spotify did not describe this item", code="unknown_media_item")
    if item.can_expand:
        return item
    return MediaItem(uri, item.title, item.type, item.subtitle, item.duration, item.thumbnail,
                     item.can_play, True)


def _present(items: Iterable[MediaItem | None]) -> list[MediaItem]:
    return [item for item in items if item is not None]


def _has_uri(data: Any, kind: str) -> bool:
    return isinstance(data, dict) and isinstance(data.get("uri"), str) and bool(
        ITEM_ID.fullmatch(data["uri"])) and data["uri"].split(":")[1] == kind


def _dict(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _list(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def _items(page: Any) -> list[dict[str, Any]]:
    # Spotify's lists can hold nulls (removed or unavailable items): skip them.
    return [x for x in _list(page, "items") if isinstance(x, dict)]


def _text(value: str) -> bool:
    """Sendable text: no lone surrogates, no control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value)


def _names(artists: Any) -> str | None:
    if not isinstance(artists, list):
        return None
    names = [str(a["name"]) for a in artists if isinstance(a, dict) and a.get("name")]
    return ", ".join(names) or None


def _seconds(ms: Any) -> float | None:
    return round(ms / 1000, 3) if isinstance(ms, (int, float)) and ms >= 0 else None


def _thumbnail(images: Any) -> str | None:
    """Spotify lists images largest first: the smallest one still THUMBNAIL_WIDTH wide."""
    if not isinstance(images, list):
        return None
    usable = [i for i in images if isinstance(i, dict) and isinstance(i.get("url"), str)
              and i["url"].startswith(("https://", "http://"))]
    if not usable:
        return None
    wide = [i for i in usable if isinstance(i.get("width"), int)
            and i["width"] >= THUMBNAIL_WIDTH]
    return str(min(wide, key=lambda i: i["width"])["url"] if wide else usable[0]["url"])


# -- cursors: opaque to clients, checked when they come back -----------------------------------


def _encode(kind: str, value: Any) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("not a cursor this plugin gave", code="invalid_cursor") from None
    kind, sep, value = raw.partition(":")
    if not sep:
        raise InvalidRequest("not a cursor this plugin gave", code="invalid_cursor")
    return kind, value


def _cursor_number(cursor: str | None, kind: str) -> int | None:
    if not cursor:
        return None
    got, value = _decode(cursor)
    if got != kind or not value.isdigit() or len(value) > 16:
        raise InvalidRequest("this cursor belongs to another listing", code="invalid_cursor")
    return int(value)


def _cursor_id(cursor: str | None) -> str | None:
    if not cursor:
        return None
    got, value = _decode(cursor)
    if got != "id" or not re.fullmatch(r"[0-9A-Za-z]{1,64}", value):
        raise InvalidRequest("this cursor belongs to another listing", code="invalid_cursor")
    return value


def _next_offset(page: dict[str, Any], offset: int) -> str | None:
    """The cursor after this page of an offset listing: None on the last page."""
    if not page.get("next"):
        return None
    limit = page.get("limit")
    step = limit if isinstance(limit, int) and limit > 0 else len(_list(page, "items"))
    return _encode("offset", offset + max(1, step))
