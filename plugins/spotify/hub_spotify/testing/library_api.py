"""The fake's catalogue and library endpoints: search, the user's playlists, saved tracks,
albums and podcasts, followed artists, recently played, and albums, artists, playlists and
shows with their items. Paging, limits, scopes and errors as the Web API has them in 2026:

    limits            search and an artist's albums take at most 10, the others 50; more
                      is a 400, as is an offset beyond search's 1000
    scopes            library reads need the scope Spotify asks for (403 "Insufficient
                      client scope" without it)
    playlist items    only for playlists the user owns or collaborates on (403 otherwise,
                      since the February 2026 change); the playlist itself reads fine
    top tracks        removed for development-mode apps in 2026: 403 unless the fake runs
                      as an app with extended quota (`extended_quota = True`)
    unknown ids       404 "Resource not found"; a malformed id 400 "Invalid base62 id"
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub_spotify.testing.catalog import API, Library, catalog, iso, paging

if TYPE_CHECKING:
    from hub_spotify.testing.fake import FakeSpotify, FakeUser

BASE62_ID = re.compile(r"[0-9A-Za-z]{1,64}")
SEARCH_TYPES = ("album", "artist", "playlist", "track", "show", "episode", "audiobook")
SCOPES = {
    "/v1/me/playlists": "playlist-read-private",
    "/v1/me/tracks": "user-library-read",
    "/v1/me/albums": "user-library-read",
    "/v1/me/shows": "user-library-read",
    "/v1/me/following": "user-follow-read",
    "/v1/me/player/recently-played": "user-read-recently-played",
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LibraryAPI:
    def __init__(self, fake: FakeSpotify) -> None:
        self.fake = fake
        self.cat = catalog()

    def add_routes(self, app: web.Application, api: Any) -> None:
        for path, handler in (
            ("/v1/search", self.search),
            ("/v1/me/playlists", self.my_playlists),
            ("/v1/me/tracks", self.saved_tracks),
            ("/v1/me/albums", self.saved_albums),
            ("/v1/me/shows", self.saved_shows),
            ("/v1/me/following", self.followed),
            ("/v1/me/player/recently-played", self.recently_played),
            ("/v1/playlists/{id}", self.playlist),
            ("/v1/playlists/{id}/items", self.playlist_items),
            ("/v1/albums/{id}", self.album),
            ("/v1/albums/{id}/tracks", self.album_tracks),
            ("/v1/artists/{id}", self.artist),
            ("/v1/artists/{id}/top-tracks", self.top_tracks),
            ("/v1/artists/{id}/albums", self.artist_albums),
            ("/v1/shows/{id}", self.show),
            ("/v1/shows/{id}/episodes", self.show_episodes),
            ("/v1/tracks/{id}", self.track),
            ("/v1/episodes/{id}", self.episode),
        ):
            app.router.add_get(path, api(self._guarded(handler)))

    def _guarded(self, handler: Any) -> Any:
        async def run(request: web.Request, user: FakeUser) -> web.Response:
            scope = SCOPES.get(request.path)
            if scope and scope not in self.fake.scope_of(request):
                return self.fake.error(403, "Insufficient client scope")
            try:
                return web.json_response(await handler(request, user))
            except BadRequest as err:
                return self.fake.error(err.status, err.message)

        return run

    # -- parameters ----------------------------------------------------------------------

    @staticmethod
    def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(400, f"Invalid {name}") from None
        if not low <= value <= high:
            raise BadRequest(400, f"Invalid {name}")
        return value

    def _page(self, request: web.Request, default: int = 20, high: int = 50) -> tuple[int, int]:
        return (self._int(request, "offset", 0, 0, 100_000),
                self._int(request, "limit", default, 1, high))

    @staticmethod
    def _id(request: web.Request, table: dict[str, Any]) -> Any:
        item_id = request.match_info["id"]
        if not BASE62_ID.fullmatch(item_id):
            raise BadRequest(400, "Invalid base62 id")
        if item_id not in table:
            raise BadRequest(404, "Resource not found")
        return table[item_id]

    @staticmethod
    def _library(user: FakeUser) -> Library:
        return user.library or Library()

    @staticmethod
    def _href(request: web.Request) -> str:
        return API + request.path.removeprefix("/v1")

    # -- search ----------------------------------------------------------------------------

    async def search(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        query = request.query.get("q", "")
        kinds = [k for k in request.query.get("type", "").split(",") if k]
        if not query.strip():
            raise BadRequest(400, "No search query")
        if not kinds or any(k not in SEARCH_TYPES for k in kinds):
            raise BadRequest(400, "Bad search type field")
        offset = self._int(request, "offset", 0, 0, 1000)
        limit = self._int(request, "limit", 5, 1, 10)  # 10 at most since February 2026
        render: dict[str, Any] = {"track": self.cat.track_json, "album": self.cat.album_json,
                  "artist": self.cat.artist_json, "show": self.cat.show_json,
                  "episode": lambda e: self.cat.episode_json(e, simplified=True),
                  "playlist": self.cat.playlist_json}
        answer: dict[str, Any] = {}
        for kind in kinds:
            if kind == "audiobook":  # none in this catalogue's markets
                found: list[Any] = []
            else:
                found = self.cat.search(kind, query)
            page = [render[kind](x) for x in found[offset:offset + limit]]
            answer[kind + "s"] = paging(page, offset, limit, f"{API}/search", total=len(found),
                                        query=f"query={query}&type={kind}&")
        return answer

    # -- the user's library ----------------------------------------------------------------

    async def my_playlists(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        offset, limit = self._page(request)
        ids = self._library(user).playlists
        page = [self.cat.playlist_json(self.cat.playlists[p]) for p in
                ids[offset:offset + limit]]
        return paging(page, offset, limit, self._href(request), total=len(ids))

    def _saved(self, request: web.Request, saved: list[tuple[str, float]], key: str,
               render: Any) -> dict[str, Any]:
        """A page of saved things: `{"added_at", key: render(id)}` each."""
        offset, limit = self._page(request)
        page = [{"added_at": iso(at), key: render(item_id)}
                for item_id, at in saved[offset:offset + limit]]
        return paging(page, offset, limit, self._href(request), total=len(saved))

    async def saved_tracks(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        return self._saved(request, self._library(user).saved_tracks, "track",
                           lambda t: self.cat.track_json(self.cat.tracks[t]))

    async def saved_albums(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        return self._saved(request, self._library(user).saved_albums, "album",
                           lambda a: self.cat.album_json(self.cat.albums[a], full=True))

    async def saved_shows(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        return self._saved(request, self._library(user).saved_shows, "show",
                           lambda s: self.cat.show_json(self.cat.shows[s]))

    async def followed(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        if request.query.get("type") != "artist":
            raise BadRequest(400, "Only artist type is supported")
        limit = self._int(request, "limit", 20, 1, 50)
        ids = self._library(user).followed_artists
        after = request.query.get("after")
        start = ids.index(after) + 1 if after in ids else 0
        page = ids[start:start + limit]
        more = start + limit < len(ids)
        href = f"{API}/me/following?type=artist&limit={limit}"
        return {"artists": {
            "href": href + (f"&after={after}" if after else ""),
            "limit": limit, "next": f"{href}&after={page[-1]}" if more else None,
            "cursors": {"after": page[-1] if more else None}, "total": len(ids),
            "items": [self.cat.artist_json(self.cat.artists[a]) for a in page]}}

    async def recently_played(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        limit = self._int(request, "limit", 20, 1, 50)
        if "after" in request.query and "before" in request.query:
            raise BadRequest(400, "Only one of after and before may be given")
        played = self._library(user).recently_played  # newest first
        before = self._int(request, "before", 0, 0, 10**15) or None
        after = self._int(request, "after", 0, 0, 10**15) or None
        items = [p for p in played if (before is None or p[1] * 1000 < before)
                 and (after is None or p[1] * 1000 > after)]
        page, more = items[:limit], len(items) > limit
        href = f"{API}/me/player/recently-played?limit={limit}"
        oldest = str(int(page[-1][1] * 1000)) if page else None
        newest = str(int(page[0][1] * 1000)) if page else None
        return {
            "href": href, "limit": limit,
            "next": f"{href}&before={oldest}" if more else None,
            "cursors": {"after": newest, "before": oldest},
            "items": [{"track": self.cat.track_json(self.cat.tracks[t]), "played_at": iso(at),
                       "context": {"type": ctx.split(":")[1], "uri": ctx,
                                   "href": f"{API}/{ctx.split(':')[1]}s/{ctx.split(':')[2]}",
                                   "external_urls": {"spotify": "https://open.spotify.com/"}}
                       if ctx else None}
                      for t, at, ctx in page]}

    # -- items and their children -----------------------------------------------------------

    def _playlist_items(self, playlist: Any, offset: int, limit: int) -> list[dict[str, Any]]:
        rows = []
        for uri in playlist.uris[offset:offset + limit]:
            rows.append({"added_at": iso(1_700_000_000), "is_local": False,
                         "added_by": {"id": playlist.owner_id, "type": "user",
                                      "uri": f"spotify:user:{playlist.owner_id}",
                                      "href": f"{API}/users/{playlist.owner_id}",
                                      "external_urls": {"spotify": "https://open.spotify.com/"}},
                         "item": self.cat.item_json(uri)})
        return rows

    @staticmethod
    def _may_read_items(playlist: Any, user: FakeUser) -> bool:
        return playlist.owner_id == user.id or playlist.collaborative

    async def playlist(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        playlist = self._id(request, self.cat.playlists)
        items = (self._playlist_items(playlist, 0, 100)
                 if self._may_read_items(playlist, user) else [])
        return self.cat.playlist_json(playlist, items=items)

    async def playlist_items(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        playlist = self._id(request, self.cat.playlists)
        if not self._may_read_items(playlist, user):
            raise BadRequest(403, "Forbidden")
        offset, limit = self._page(request)
        return paging(self._playlist_items(playlist, offset, limit), offset, limit,
                      self._href(request), total=len(playlist.uris))

    async def album(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        return self.cat.album_json(self._id(request, self.cat.albums), full=True)

    async def album_tracks(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        album = self._id(request, self.cat.albums)
        offset, limit = self._page(request)
        tracks = [self.cat.track_json(self.cat.tracks[t], simplified=True)
                  for t in album.track_ids]
        return paging(tracks, offset, limit, self._href(request))

    async def artist(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        return self.cat.artist_json(self._id(request, self.cat.artists))

    async def top_tracks(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        artist = self._id(request, self.cat.artists)
        if not self.fake.extended_quota:
            raise BadRequest(403, "Forbidden")  # removed for development mode (2026)
        return {"tracks": [self.cat.track_json(t) for t in self.cat.top_tracks(artist.id)]}

    async def artist_albums(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        artist = self._id(request, self.cat.artists)
        groups = request.query.get("include_groups", "album,single,compilation,appears_on")
        wanted = set(groups.split(","))
        offset, limit = self._page(request, default=5, high=10)  # 10 at most since 2026
        albums = [self.cat.album_json(self.cat.albums[a], group=True)
                  for a in artist.album_ids if self.cat.albums[a].album_type in wanted]
        return paging(albums, offset, limit, self._href(request),
                      query=f"include_groups={groups}&")

    async def show(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        return self.cat.show_json(self._id(request, self.cat.shows), full=True)

    async def show_episodes(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        show = self._id(request, self.cat.shows)
        offset, limit = self._page(request)
        episodes = [self.cat.episode_json(self.cat.episodes[e], simplified=True)
                    for e in show.episode_ids]
        return paging(episodes, offset, limit, self._href(request))

    async def track(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        return self.cat.track_json(self._id(request, self.cat.tracks))

    async def episode(self, request: web.Request, user: FakeUser) -> dict[str, Any]:
        return self.cat.episode_json(self._id(request, self.cat.episodes))
