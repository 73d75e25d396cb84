"""The demo's media library: synthetic artists, albums, tracks, playlists and radio stations,
browsed and searched like a real provider's and played by id with `play_media`.

    demo:root                         the root: the folders below
    demo:folder:artists|albums|playlists|radio|tracks
    demo:artist:N  demo:album:N  demo:track:N  demo:playlist:<slug>  demo:radio:<slug>

Pages hold PAGE_SIZE children; the cursor is the offset of the next page. Everything is
generated from the tables below, so every hub shows the same library.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from dataclasses import dataclass

from hub.plugin import BrowseResult, InvalidRequest, MediaItem, NotFound, fold

PAGE_SIZE = 25

ARTISTS = ["The Lanterns", "Harbour Lights", "Nadia Kell", "Vega Trio", "Élodie Marchand",
           "Kyoto Static", "Søren Åberg"]

# (title, artist index, year)
ALBUMS = [
    ("Early Hours", 0, 2019),
    ("Tides", 1, 2020),
    ("Signals", 2, 2021),
    ("Low Gravity", 3, 2018),
    ("Après la pluie", 4, 2022),
    ("Night Shift", 0, 2023),
    ("Deep Focus", 5, 2021),
    ("Hjem", 6, 2017),
]

# (title, album index, seconds); `demo:track:N` is the N-th row (the first eight are the
# players' starting queue).
TRACKS = [
    ("Morning Light", 0, 214), ("Paper Boats", 1, 187), ("Static Bloom", 2, 241),
    ("Slow Orbit", 3, 305), ("Glass Hallway", 0, 198), ("Northbound", 1, 226),
    ("Quiet Engines", 2, 172), ("Focus Field", 3, 1800),
    ("Dew Point", 0, 201), ("First Tram", 0, 176), ("Kettle Song", 0, 159),
    ("Window Seat", 0, 233),
    ("Low Water", 1, 244), ("Salt Lines", 1, 190), ("Lighthouse Keeper", 1, 262),
    ("Relay", 2, 205), ("Morse Garden", 2, 219), ("Night Frequency", 2, 287),
    ("Perihelion", 3, 342), ("Dust Lanes", 3, 276), ("Weightless Waltz", 3, 254),
    ("Café du matin", 4, 183), ("Rue des Étoiles", 4, 207), ("Pluie d'été", 4, 196),
    ("Dernier métro", 4, 221),
    ("Neon Platform", 5, 212), ("Last Orders", 5, 188), ("Streetlight Hymn", 5, 240),
    ("Four A.M.", 5, 265),
    ("Study Room", 6, 1200), ("Paper Lantern", 6, 940), ("Graphite", 6, 1080),
    ("Long Exposure", 6, 1500),
    ("Fjord", 7, 248), ("Vinterlys", 7, 301), ("Hjem", 7, 224), ("Nordlys", 7, 333),
]

# slug: (title, description, track numbers)
PLAYLISTS = {
    "focus": ("Focus", "Long, quiet tracks for deep work",
              [8, 4, 19, 20, 21, 30, 31, 32, 33, 3, 7, 17]),
    "dinner_party": ("Dinner Party", "Warm and unhurried",
                     [22, 23, 24, 25, 2, 6, 13, 14, 15, 34, 36]),
}

# slug: (name, tagline)
RADIO = {
    "demo_fm": ("Demo FM", "Hits from the demo library, around the clock"),
    "harbour_jazz": ("Harbour Jazz Radio", "Late-night jazz, all day"),
}

FOLDERS = {"artists": "Artists", "albums": "Albums", "playlists": "Playlists",
           "radio": "Radio", "tracks": "Tracks"}

ROOT_ID = "demo:root"
_TYPE_ORDER = {"artist": 0, "album": 1, "playlist": 2, "radio": 3, "track": 4}


@dataclass
class Track:
    """What a player queues: one track, or a stream with no end (duration None)."""

    media_id: str
    title: str
    artist: str | None = None
    album: str | None = None
    duration: float | None = None


def track(number: int) -> Track:
    title, album, seconds = TRACKS[number - 1]
    return Track(f"demo:track:{number}", title, ARTISTS[ALBUMS[album][1]], ALBUMS[album][0],
                 float(seconds))


def album_tracks(index: int) -> list[int]:
    return [n for n, row in enumerate(TRACKS, 1) if row[1] == index]


def artist_albums(index: int) -> list[int]:
    return [i for i, row in enumerate(ALBUMS) if row[1] == index]


def _index(text: str, size: int) -> int | None:
    if not text.isdigit() or len(text) > 6:
        return None
    number = int(text)
    return number if 1 <= number <= size else None


def _parse(media_id: str) -> tuple[str, str] | None:
    """("track", "3") for "demo:track:3"; None for what is not a demo library id."""
    parts = media_id.split(":", 2)
    if len(parts) != 3 or parts[0] != "demo":
        return None
    return parts[1], parts[2]


class Library:
    """Browse, search and play. `art_url(key)` is the absolute URL of a cover (served by the
    plugin's `/integrations/demo/art/<key>.svg` route), or None."""

    def __init__(self, art_url: Callable[[str], str | None] = lambda key: None) -> None:
        self._art_url = art_url
        self._search_index = self._build_index()

    # -- items -------------------------------------------------------------------------------

    def track_item(self, number: int) -> MediaItem:
        title, album, seconds = TRACKS[number - 1]
        return MediaItem(f"demo:track:{number}", title, "track",
                         subtitle=ARTISTS[ALBUMS[album][1]], duration=float(seconds),
                         thumbnail=self._art_url(f"album-{album + 1}"), can_play=True)

    def album_item(self, index: int) -> MediaItem:
        title, artist, year = ALBUMS[index]
        return MediaItem(f"demo:album:{index + 1}", title, "album",
                         subtitle=f"{ARTISTS[artist]} ({year})",
                         thumbnail=self._art_url(f"album-{index + 1}"),
                         can_play=True, can_expand=True)

    def artist_item(self, index: int) -> MediaItem:
        count = len(artist_albums(index))
        return MediaItem(f"demo:artist:{index + 1}", ARTISTS[index], "artist",
                         subtitle=f"{count} album{'s' if count != 1 else ''}",
                         thumbnail=self._art_url(f"artist-{index + 1}"),
                         can_play=True, can_expand=True)

    def playlist_item(self, slug: str) -> MediaItem:
        title, description, numbers = PLAYLISTS[slug]
        return MediaItem(f"demo:playlist:{slug}", title, "playlist",
                         subtitle=f"{description} \u00b7 {len(numbers)} tracks",
                         duration=float(sum(TRACKS[n - 1][2] for n in numbers)),
                         thumbnail=self._art_url(f"playlist-{slug}"),
                         can_play=True, can_expand=True)

    def radio_item(self, slug: str) -> MediaItem:
        name, tagline = RADIO[slug]
        return MediaItem(f"demo:radio:{slug}", name, "radio", subtitle=tagline,
                         thumbnail=self._art_url(f"radio-{slug}"), can_play=True)

    @staticmethod
    def folder_item(slug: str) -> MediaItem:
        return MediaItem(f"demo:folder:{slug}", FOLDERS[slug], "folder", can_expand=True)

    def art_title(self, key: str) -> str | None:
        """The title drawn on the cover `key` (album-3, artist-1, playlist-focus, radio-demo_fm)."""
        kind, _, rest = key.partition("-")
        if kind == "album" and (i := _index(rest, len(ALBUMS))):
            return ALBUMS[i - 1][0]
        if kind == "artist" and (i := _index(rest, len(ARTISTS))):
            return ARTISTS[i - 1]
        if kind == "playlist" and rest in PLAYLISTS:
            return PLAYLISTS[rest][0]
        if kind == "radio" and rest in RADIO:
            return RADIO[rest][0]
        return None

    # -- browse ------------------------------------------------------------------------------

    def item(self, media_id: str) -> MediaItem:
        """The item with this id; NotFound when there is none."""
        if media_id == ROOT_ID:
            return MediaItem(ROOT_ID, "Demo library", "folder", can_expand=True)
        parsed = _parse(media_id)
        if parsed is not None:
            kind, key = parsed
            if kind == "folder" and key in FOLDERS:
                return self.folder_item(key)
            if kind == "track" and (n := _index(key, len(TRACKS))):
                return self.track_item(n)
            if kind == "album" and (n := _index(key, len(ALBUMS))):
                return self.album_item(n - 1)
            if kind == "artist" and (n := _index(key, len(ARTISTS))):
                return self.artist_item(n - 1)
            if kind == "playlist" and key in PLAYLISTS:
                return self.playlist_item(key)
            if kind == "radio" and key in RADIO:
                return self.radio_item(key)
        raise NotFound(f"no demo media item {media_id[:100]!r}", code="unknown_media_item")

    def children(self, item: MediaItem) -> list[MediaItem]:
        if item.id == ROOT_ID:
            return [self.folder_item(slug) for slug in FOLDERS]
        kind, key = _parse(item.id) or ("", "")
        if kind == "folder":
            return {
                "artists": lambda: [self.artist_item(i) for i in range(len(ARTISTS))],
                "albums": lambda: [self.album_item(i) for i in range(len(ALBUMS))],
                "playlists": lambda: [self.playlist_item(s) for s in PLAYLISTS],
                "radio": lambda: [self.radio_item(s) for s in RADIO],
                "tracks": lambda: [self.track_item(n) for n in range(1, len(TRACKS) + 1)],
            }[key]()
        if kind == "album":
            return [self.track_item(n) for n in album_tracks(int(key) - 1)]
        if kind == "artist":
            return [self.album_item(i) for i in artist_albums(int(key) - 1)]
        if kind == "playlist":
            return [self.track_item(n) for n in PLAYLISTS[key][2]]
        return []  # tracks and stations have no children

    def browse(self, item_id: str | None, cursor: str | None) -> BrowseResult:
        item = self.item(item_id or ROOT_ID)
        children = self.children(item)
        start = 0
        if cursor is not None:
            if not cursor.isdigit() or len(cursor) > 6 or not 0 < int(cursor) < len(children):
                raise InvalidRequest(f"invalid cursor for {item.id}", code="invalid_cursor")
            start = int(cursor)
        end = start + PAGE_SIZE
        return BrowseResult(item, children[start:end],
                            str(end) if end < len(children) else None)

    # -- search ------------------------------------------------------------------------------

    def _build_index(self) -> list[tuple[str, str, str]]:
        """(type, id, " " + folded words to match) for everything searchable."""
        rows = [("artist", f"demo:artist:{i + 1}", name) for i, name in enumerate(ARTISTS)]
        rows += [("album", f"demo:album:{i + 1}", f"{title} {ARTISTS[artist]}")
                 for i, (title, artist, _) in enumerate(ALBUMS)]
        rows += [("playlist", f"demo:playlist:{slug}", f"{title} {description}")
                 for slug, (title, description, _) in PLAYLISTS.items()]
        rows += [("radio", f"demo:radio:{slug}", f"{name} {tagline}")
                 for slug, (name, tagline) in RADIO.items()]
        rows += [("track", f"demo:track:{n}",
                  f"{title} {ARTISTS[ALBUMS[album][1]]} {ALBUMS[album][0]}")
                 for n, (title, album, _) in enumerate(TRACKS, 1)]
        return [(kind, media_id, " " + fold(text)) for kind, media_id, text in rows]

    def search(self, query: str, types: frozenset[str] | None, limit: int) -> list[MediaItem]:
        """Items whose title, artist or album hold every word of the query (as a word or the
        start of one), best first: the whole title, then its start, then all words in it."""
        wanted = fold(query)
        starts = [" " + w for w in wanted.split()]  # " w" in " text": a word starts with w
        if not starts:
            return []
        scored = []
        for kind, media_id, text in self._search_index:
            if types is not None and kind not in types:
                continue
            if not all(s in text for s in starts):
                continue
            item = self.item(media_id)
            title = fold(item.title)
            score = (3 if title == wanted else 2 if title.startswith(wanted)
                     else 1 if all(w in title.split() for w in wanted.split()) else 0)
            scored.append((-score, _TYPE_ORDER[kind], title, item))
        scored.sort(key=lambda row: row[:3])
        return [row[3] for row in scored[:limit]]

    # -- play --------------------------------------------------------------------------------

    def tracks_for(self, media_id: str) -> list[Track]:
        """What `play_media` queues for an id: a library item's tracks, a station's stream,
        or (any other URI) one track named after the URI's last segment."""
        if _parse(media_id) is None:
            return [Track(media_id, media_id.rsplit("/", 1)[-1] or media_id, duration=180.0)]
        item = self.item(media_id)
        kind, key = _parse(item.id) or ("", "")
        if kind == "track":
            return [track(int(key))]
        if kind == "radio":
            return [Track(item.id, item.title)]
        if not item.can_play:
            raise InvalidRequest(f"{item.title} ({item.id}) is a folder and cannot be played",
                                 code="not_playable")
        if kind == "artist":
            numbers = [n for i in artist_albums(int(key) - 1) for n in album_tracks(i)]
        elif kind == "album":
            numbers = album_tracks(int(key) - 1)
        else:
            numbers = PLAYLISTS[key][2]
        return [track(n) for n in numbers]


def cover_svg(key: str, title: str) -> str:
    """A small square cover: a colour from the key, the title's initials."""
    digest = hashlib.sha256(key.encode()).digest()
    hue, hue2 = digest[0] * 360 // 256, digest[1] * 360 // 256
    initials = "".join(w[0] for w in title.split()[:2]).upper() or "?"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300" '
        'viewBox="0 0 300 300">'
        f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="hsl({hue},55%,45%)"/>'
        f'<stop offset="1" stop-color="hsl({hue2},60%,25%)"/></linearGradient></defs>'
        '<rect width="300" height="300" fill="url(#g)"/>'
        '<text x="150" y="175" font-family="sans-serif" font-size="96" fill="#fff" '
        f'text-anchor="middle">{html.escape(initials)}</text>'
        '<text x="150" y="270" font-family="sans-serif" font-size="20" fill="#fff" '
        f'text-anchor="middle">{html.escape(title)}</text></svg>'
    )
