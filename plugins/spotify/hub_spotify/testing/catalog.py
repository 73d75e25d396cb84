"""The fake Spotify's catalogue and users' libraries: deterministic, realistic in size and in
shape (thousands of tracks, hundreds of albums, podcasts with hundreds of episodes), and
rendered as the Web API's JSON objects so the contract test can hold them to the spec.

Nothing here is random at run time: ids are base62 strings derived from a name, and the
same catalogue is built in every process, so a test can name what it expects.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

API = "https://api.spotify.com/v1"
OPEN = "https://open.spotify.com"
IMAGES = "https://i.scdn.co/image/"
MARKETS = ["DE", "FR", "GB", "SE", "US"]
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_FIRST = ["Ada", "Nils", "Mira", "Otto", "Lena", "Jonas", "Ines", "Kai", "Rosa", "Emil",
          "Saga", "Tomas", "Vera", "Felix", "Alma", "Hugo"]
_LAST = ["Lindqvist", "Frahm", "Okafor", "Moreau", "Brandt", "Sato", "Keller", "Novak",
         "Alvarez", "Haugen"]
_ADJ = ["Quiet", "Electric", "Golden", "Hollow", "Northern", "Velvet", "Paper", "Slow",
        "Bright", "Distant", "Silver", "Wild", "Blue", "Late", "Open", "Glass"]
_NOUN = ["Harbours", "Tides", "Engines", "Gardens", "Letters", "Rivers", "Signals", "Lanterns",
         "Orchards", "Stations", "Mirrors", "Winters", "Horses", "Islands", "Bridges",
         "Satellites"]
_GENRES = ["ambient", "modern classical", "indie folk", "jazz", "electronic", "krautrock",
           "soul", "post-rock"]
_SHOW_TOPICS = ["History", "Science", "Cooking", "Design", "Football", "Philosophy",
                "Gardening", "Cinema", "Music Theory", "Travel", "Economics", "Poetry",
                "Astronomy", "Chess", "Architecture"]


def _digest(parts: tuple[Any, ...]) -> bytes:
    return hashlib.blake2b(repr(parts).encode(), digest_size=24).digest()


def spotify_id(*parts: Any) -> str:
    """A 22-character base62 id, stable for the same parts (like Spotify's)."""
    return "".join(BASE62[b % 62] for b in _digest(parts)[:22])


def _hash(parts: tuple[Any, ...]) -> int:
    return int.from_bytes(_digest(parts)[:4], "big")


def _pick(items: list[str], *parts: Any) -> str:
    return items[_hash(parts) % len(items)]


def _number(low: int, high: int, *parts: Any) -> int:
    return low + _hash(parts) % (high - low + 1)


def images(seed: str, sizes: tuple[int, ...] = (640, 300, 64)) -> list[dict[str, Any]]:
    """Spotify's image list: largest first, each size its own URL."""
    return [{"url": f"{IMAGES}ab67616d0000{size:04x}{spotify_id('img', seed, size)[:24]}",
             "height": size, "width": size} for size in sizes]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Artist:
    id: str
    name: str
    genres: list[str]
    popularity: int
    followers: int
    album_ids: list[str] = field(default_factory=list)


@dataclass
class Album:
    id: str
    name: str
    artist_id: str
    album_type: str  # album | single | compilation
    release_date: str
    track_ids: list[str] = field(default_factory=list)
    popularity: int = 50


@dataclass
class Track:
    id: str
    name: str
    artist_id: str
    album_id: str
    track_number: int
    duration_ms: int
    popularity: int
    explicit: bool = False


@dataclass
class Show:
    id: str
    name: str
    publisher: str
    description: str
    episode_ids: list[str] = field(default_factory=list)


@dataclass
class Episode:
    id: str
    name: str
    show_id: str
    duration_ms: int
    release_date: str
    description: str


@dataclass
class Playlist:
    id: str
    name: str
    owner_id: str
    owner_name: str
    description: str
    uris: list[str]  # tracks and episodes, in order
    public: bool = True
    collaborative: bool = False


class Catalog:
    """Everything Spotify has, as far as the fake knows."""

    def __init__(self) -> None:
        self.artists: dict[str, Artist] = {}
        self.albums: dict[str, Album] = {}
        self.tracks: dict[str, Track] = {}
        self.shows: dict[str, Show] = {}
        self.episodes: dict[str, Episode] = {}
        self.playlists: dict[str, Playlist] = {}
        self.public_playlists: list[str] = []  # other people's, for users to follow
        self._build()

    # -- the catalogue ---------------------------------------------------------------------

    def _build(self) -> None:
        names = [f"{first} {last}" for last in _LAST for first in _FIRST[:4]]
        names += [f"The {adj} {noun}" for adj, noun in zip(_ADJ, _NOUN, strict=True)]
        names += [f"{adj} {noun}" for adj, noun in zip(_ADJ, reversed(_NOUN), strict=True)]
        for n, name in enumerate(names):  # 72 artists
            artist = Artist(spotify_id("artist", name), name,
                            [_pick(_GENRES, name), _pick(_GENRES, name, 2)],
                            _number(5, 95, "pop", name), _number(200, 2_000_000, "f", name))
            self.artists[artist.id] = artist
            # One prolific artist, so an artist's albums (10 a page) need paging too.
            releases = 23 if name == "Nils Frahm" else _number(3, 7, "albums", name)
            for a in range(releases):
                self._album(artist, a, n)
        for topic in _SHOW_TOPICS:
            show = Show(spotify_id("show", topic), f"The {topic} Hour",
                        f"{_pick(_FIRST, topic)} {_pick(_LAST, topic)}",
                        f"A weekly conversation about {topic.lower()}.")
            self.shows[show.id] = show
            for e in range(_number(40, 120, "episodes", topic)):
                episode = Episode(spotify_id("episode", topic, e),
                                  f"{topic} {e + 1}: {_pick(_ADJ, topic, e)} "
                                  f"{_pick(_NOUN, topic, e)}", show.id,
                                  _number(20, 90, "len", topic, e) * 60_000,
                                  f"{2018 + e // 20}-{1 + e % 12:02d}-{1 + e % 28:02d}",
                                  f"Episode {e + 1} of The {topic} Hour.")
                self.episodes[episode.id] = episode
                show.episode_ids.insert(0, episode.id)  # newest first, as Spotify lists them
        tracks = list(self.tracks)
        for n in range(100):  # other people's public playlists
            owner = f"{_pick(_FIRST, 'curator', n).lower()}_{n}"
            size = _number(20, 150, "size", n)
            start = _number(0, len(tracks) - 1, "start", n)
            uris = [f"spotify:track:{tracks[(start + 7 * k) % len(tracks)]}"
                    for k in range(size)]
            playlist = Playlist(spotify_id("playlist", n),
                                f"{_pick(_ADJ, 'pl', n)} {_pick(_NOUN, 'pl', n)} Mix",
                                owner, owner.replace("_", " ").title(),
                                "Songs for a slow afternoon.", uris,
                                collaborative=n % 10 == 0)
            self.playlists[playlist.id] = playlist
            self.public_playlists.append(playlist.id)

    def _album(self, artist: Artist, a: int, n: int) -> None:
        album_type = ("album", "album", "single", "album", "compilation", "single",
                      "album")[a % 7]
        start = _hash((artist.name,))
        name = f"{_ADJ[(start + a) % len(_ADJ)]} {_NOUN[(start // 16 + 3 * a) % len(_NOUN)]}"
        if album_type == "single":
            name = f"{_pick(_NOUN, 'single', artist.name, a)} (Single)"
        album = Album(spotify_id("album", artist.name, a), name, artist.id, album_type,
                      f"{1995 + (n + 3 * a) % 31}-{1 + a % 12:02d}-{1 + n % 28:02d}",
                      popularity=_number(5, 90, "alb", artist.name, a))
        count = {"album": _number(8, 14, "n", album.id), "single": _number(1, 3, "n", album.id),
                 "compilation": _number(15, 20, "n", album.id)}[album_type]
        if artist.name == "Nils Frahm" and a == 4:
            count = 64  # a box set: more tracks than one page of an album's tracks
        for t in range(count):
            track = Track(spotify_id("track", album.id, t),
                          f"{_pick(_ADJ, album.id, t)} {_pick(_NOUN, album.id, t)}"
                          if t % 3 else f"{_pick(_NOUN, album.id, t)}",
                          artist.id, album.id, t + 1,
                          _number(95, 420, "dur", album.id, t) * 1000,
                          _number(1, 100, "tp", album.id, t), explicit=t % 11 == 5)
            self.tracks[track.id] = track
            album.track_ids.append(track.id)
        self.albums[album.id] = album
        artist.album_ids.append(album.id)

    # -- lookups ---------------------------------------------------------------------------

    def item(self, uri: str) -> Track | Episode | None:
        kind, _, item_id = uri.removeprefix("spotify:").partition(":")
        if kind == "track":
            return self.tracks.get(item_id)
        if kind == "episode":
            return self.episodes.get(item_id)
        return None

    def context_uris(self, context_uri: str) -> list[str] | None:
        """What playing a context plays, or None when the catalogue does not have it."""
        kind, _, item_id = context_uri.removeprefix("spotify:").partition(":")
        if kind == "album" and item_id in self.albums:
            return [f"spotify:track:{t}" for t in self.albums[item_id].track_ids]
        if kind == "playlist" and item_id in self.playlists:
            return list(self.playlists[item_id].uris)
        if kind == "artist" and item_id in self.artists:
            return [f"spotify:track:{t.id}" for t in self.top_tracks(item_id)]
        if kind == "show" and item_id in self.shows:
            return [f"spotify:episode:{e}" for e in self.shows[item_id].episode_ids]
        return None

    def top_tracks(self, artist_id: str) -> list[Track]:
        tracks = [self.tracks[t] for a in self.artists[artist_id].album_ids
                  for t in self.albums[a].track_ids]
        return sorted(tracks, key=lambda t: (-t.popularity, t.id))[:10]

    def search(self, kind: str, query: str) -> list[Any]:
        """Items of `kind` matching `query`: every word in the name (for tracks and albums
        also the artist's and album's names); `artist:`, `album:`, `track:` and `year:`
        filters as Spotify documents them. Most popular first."""
        words, filters = _parse_query(query)
        tables: dict[str, dict[str, Any]] = {
            "track": self.tracks, "album": self.albums, "artist": self.artists,
            "playlist": self.playlists, "show": self.shows, "episode": self.episodes}
        pool = list(tables.get(kind, {}).values())
        found = [x for x in pool if self._matches(x, words, filters)]
        return sorted(found, key=lambda x: (-getattr(x, "popularity", 50), x.name, x.id))

    def _matches(self, x: Any, words: list[str], filters: dict[str, str]) -> bool:
        artist = self.artists.get(getattr(x, "artist_id", ""))
        album = self.albums.get(getattr(x, "album_id", "")) if isinstance(x, Track) else (
            x if isinstance(x, Album) else None)
        text = " ".join(filter(None, [x.name, artist.name if artist else None,
                                      album.name if album else None,
                                      getattr(x, "publisher", None)])).lower()
        if any(w not in text for w in words):
            return False
        checks = {"artist": artist.name if artist else (x.name if isinstance(x, Artist) else ""),
                  "album": album.name if album else "", "track": x.name if isinstance(
                      x, Track) else "",
                  "year": album.release_date[:4] if album else ""}
        return all(value.lower() in checks.get(key, "").lower()
                   for key, value in filters.items())

    # -- JSON --------------------------------------------------------------------------------

    def artist_json(self, artist: Artist, *, simplified: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "external_urls": {"spotify": f"{OPEN}/artist/{artist.id}"},
            "href": f"{API}/artists/{artist.id}", "id": artist.id, "name": artist.name,
            "type": "artist", "uri": f"spotify:artist:{artist.id}",
        }
        if not simplified:
            data.update(followers={"href": None, "total": artist.followers},
                        genres=artist.genres, images=images(artist.id),
                        popularity=artist.popularity)
        return data

    def album_json(self, album: Album, *, full: bool = False,
                   group: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "album_type": album.album_type, "total_tracks": len(album.track_ids),
            "available_markets": MARKETS,
            "external_urls": {"spotify": f"{OPEN}/album/{album.id}"},
            "href": f"{API}/albums/{album.id}", "id": album.id, "images": images(album.id),
            "name": album.name, "release_date": album.release_date,
            "release_date_precision": "day", "type": "album",
            "uri": f"spotify:album:{album.id}",
            "artists": [self.artist_json(self.artists[album.artist_id], simplified=True)],
        }
        if group:
            data["album_group"] = album.album_type
        if full:
            tracks = [self.track_json(self.tracks[t], simplified=True)
                      for t in album.track_ids]
            data.update(
                tracks=paging(tracks, 0, 50, f"{API}/albums/{album.id}/tracks"),
                copyrights=[{"text": f"(C) {album.release_date[:4]} Fake Records",
                             "type": "C"}],
                external_ids={"upc": spotify_id("upc", album.id)[:12]},
                genres=[], label="Fake Records", popularity=album.popularity)
        return data

    def track_json(self, track: Track, *, simplified: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "artists": [self.artist_json(self.artists[track.artist_id], simplified=True)],
            "available_markets": MARKETS, "disc_number": 1, "duration_ms": track.duration_ms,
            "explicit": track.explicit,
            "external_urls": {"spotify": f"{OPEN}/track/{track.id}"},
            "href": f"{API}/tracks/{track.id}", "id": track.id, "is_playable": True,
            "name": track.name, "track_number": track.track_number, "type": "track",
            "uri": f"spotify:track:{track.id}", "is_local": False,
        }
        if not simplified:
            data.update(album=self.album_json(self.albums[track.album_id]),
                        external_ids={"isrc": f"XX{spotify_id('isrc', track.id)[:10]}"},
                        popularity=track.popularity)
        return data

    def show_json(self, show: Show, *, full: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "available_markets": MARKETS, "copyrights": [],
            "description": show.description, "html_description": f"<p>{show.description}</p>",
            "explicit": False, "external_urls": {"spotify": f"{OPEN}/show/{show.id}"},
            "href": f"{API}/shows/{show.id}", "id": show.id, "images": images(show.id),
            "is_externally_hosted": False, "languages": ["en"], "media_type": "audio",
            "name": show.name, "publisher": show.publisher, "type": "show",
            "uri": f"spotify:show:{show.id}", "total_episodes": len(show.episode_ids),
        }
        if full:
            episodes = [self.episode_json(self.episodes[e], simplified=True)
                        for e in show.episode_ids]
            data["episodes"] = paging(episodes, 0, 50, f"{API}/shows/{show.id}/episodes")
        return data

    def episode_json(self, episode: Episode, *, simplified: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "audio_preview_url": None, "description": episode.description,
            "html_description": f"<p>{episode.description}</p>",
            "duration_ms": episode.duration_ms, "explicit": False,
            "external_urls": {"spotify": f"{OPEN}/episode/{episode.id}"},
            "href": f"{API}/episodes/{episode.id}", "id": episode.id,
            "images": images(episode.show_id), "is_externally_hosted": False,
            "is_playable": True, "languages": ["en"], "name": episode.name,
            "release_date": episode.release_date, "release_date_precision": "day",
            "type": "episode", "uri": f"spotify:episode:{episode.id}",
        }
        if not simplified:
            data["show"] = self.show_json(self.shows[episode.show_id])
        return data

    def item_json(self, uri: str) -> dict[str, Any] | None:
        item = self.item(uri)
        if isinstance(item, Track):
            return self.track_json(item)
        if isinstance(item, Episode):
            return self.episode_json(item)
        return None

    def playlist_json(self, playlist: Playlist, *, items: list[dict[str, Any]] | None = None
                      ) -> dict[str, Any]:
        """Simplified (a reference to the items), or full with the first page of `items`."""
        href = f"{API}/playlists/{playlist.id}/items"
        data: dict[str, Any] = {
            "collaborative": playlist.collaborative, "description": playlist.description,
            "external_urls": {"spotify": f"{OPEN}/playlist/{playlist.id}"},
            "href": f"{API}/playlists/{playlist.id}", "id": playlist.id,
            "images": images(playlist.id, (640,)), "name": playlist.name,
            "owner": {"external_urls": {"spotify": f"{OPEN}/user/{playlist.owner_id}"},
                      "href": f"{API}/users/{playlist.owner_id}", "id": playlist.owner_id,
                      "type": "user", "uri": f"spotify:user:{playlist.owner_id}",
                      "display_name": playlist.owner_name},
            "public": playlist.public,
            "snapshot_id": spotify_id("snap", playlist.id, len(playlist.uris)),
            "type": "playlist", "uri": f"spotify:playlist:{playlist.id}",
        }
        if items is None:
            data["items"] = {"href": href, "total": len(playlist.uris)}
        else:
            data["items"] = paging(items, 0, 100, href, total=len(playlist.uris))
        return data


def _parse_query(query: str) -> tuple[list[str], dict[str, str]]:
    words: list[str] = []
    filters: dict[str, str] = {}
    for part in _split_quoted(query):
        key, sep, value = part.partition(":")
        if sep and key in ("artist", "album", "track", "year") and value:
            filters[key] = value.strip('"')
        else:
            words.append(part.strip('"').lower())
    return [w for w in words if w], filters


def _split_quoted(query: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in query:
        if char == '"':
            quoted = not quoted
            current += char
        elif char.isspace() and not quoted:
            if current:
                parts.append(current)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return parts


def paging(items: list[Any], offset: int, limit: int, href: str, *,
           total: int | None = None, query: str = "") -> dict[str, Any]:
    """A Web API paging object: over the whole list `items`, or, with `total`, `items` is
    the page already cut out of a list that long."""
    if total is None:
        page, total = items[offset:offset + limit], len(items)
    else:
        page = items[:limit]
    sep = "&" if "?" in href else "?"

    def link(at: int) -> str:
        return f"{href}{sep}{query}offset={at}&limit={limit}"

    return {"href": link(offset), "items": page, "limit": limit,
            "next": link(offset + limit) if offset + limit < total else None,
            "offset": offset, "previous": link(max(0, offset - limit)) if offset else None,
            "total": total}


@functools.cache
def catalog() -> Catalog:
    """The one catalogue (built once per process, a few milliseconds)."""
    return Catalog()


@dataclass
class Library:
    """One user's Spotify library (what `/me/...` answers)."""

    playlists: list[str] = field(default_factory=list)  # owned and followed, newest first
    saved_tracks: list[tuple[str, float]] = field(default_factory=list)  # (id, added at)
    saved_albums: list[tuple[str, float]] = field(default_factory=list)
    saved_shows: list[tuple[str, float]] = field(default_factory=list)
    followed_artists: list[str] = field(default_factory=list)
    recently_played: list[tuple[str, float, str | None]] = field(default_factory=list)


def library_for(user_id: str, display_name: str, now: float) -> Library:
    """A realistic library: 120 playlists (25 the user's own, one of 230 tracks), 320
    saved tracks, 75 saved albums, 64 followed artists, 12 podcasts, 50 recent plays."""
    cat = catalog()
    tracks, albums = list(cat.tracks), list(cat.albums)
    artists, shows = list(cat.artists), list(cat.shows)
    library = Library()
    for n in range(25):
        size = 230 if n == 0 else _number(0, 60, "own", user_id, n)
        uris = [f"spotify:track:{tracks[(n * 97 + 13 * k) % len(tracks)]}"
                for k in range(size)]
        if n == 3:  # a mixed playlist: songs and podcast episodes
            uris[1:1] = [f"spotify:episode:{e}" for e in list(cat.episodes)[:3]]
        name = "Focus" if n == 0 else f"{display_name}'s {_pick(_ADJ, user_id, n)} list"
        playlist = Playlist(spotify_id("own", user_id, n), name, user_id, display_name,
                            "", uris, public=n % 2 == 0)
        cat.playlists[playlist.id] = playlist
        library.playlists.append(playlist.id)
    library.playlists += cat.public_playlists[:95]
    library.saved_tracks = [(tracks[(11 * k) % len(tracks)], now - 3600 * k)
                            for k in range(320)]
    library.saved_albums = [(albums[(5 * k) % len(albums)], now - 86400 * k)
                            for k in range(75)]
    library.saved_shows = [(shows[k], now - 7 * 86400 * k) for k in range(12)]
    library.followed_artists = sorted(artists[:64])  # Spotify pages them by id
    library.recently_played = []
    for k in range(50):
        album = cat.albums[albums[(3 * k) % len(albums)]]
        library.recently_played.append((album.track_ids[k % len(album.track_ids)],
                                        now - 240 * (k + 1), f"spotify:album:{album.id}"))
    return library
