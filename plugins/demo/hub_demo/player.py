"""One virtual player: a playlist, a position that advances with the clock, volume and modes.

Positions are not ticked: like Home Assistant, a player reports `media_position` together
with `media_position_updated_at`, and the plugin wakes only when a track ends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hub.plugin import Clock, InvalidRequest
from hub_demo.library import Track, track

SOURCES = ("Playlist", "Radio", "Line-in")
STARTING_QUEUE = range(1, 8)  # demo:track:1..7


@dataclass
class Player:
    device_id: str
    name: str
    clock: Clock
    playlist: list[Track] = field(default_factory=lambda: [track(n) for n in STARTING_QUEUE])
    index: int = 0
    state: str = "idle"
    volume: int = 30
    muted: bool = False
    shuffle: bool = False
    repeat: str = "off"
    source: str = "Playlist"
    leader: str | None = None  # device id of the group leader, None when not grouped
    _position: float = 0.0  # seconds into the track at _since
    _since: float = 0.0  # clock.monotonic() when _position was set
    _since_wall: float = 0.0  # the same moment in epoch seconds, for media_position_updated_at
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._rng.seed(self.device_id)  # reproducible shuffles

    # -- playback position -------------------------------------------------------------------

    @property
    def track(self) -> Track | None:
        return self.playlist[self.index] if self.playlist else None

    @property
    def position(self) -> float:
        if self.state == "playing":
            return self._position + (self.clock.monotonic() - self._since)
        return self._position

    def _set_position(self, seconds: float) -> None:
        self._position = max(0.0, seconds)
        self._since = self.clock.monotonic()
        self._since_wall = self.clock.time()

    def remaining(self) -> float | None:
        """Seconds until the current track ends while playing, else None."""
        track = self.track
        if self.state != "playing" or track is None or track.duration is None:
            return None
        return max(0.0, track.duration - self.position)

    # -- transport ---------------------------------------------------------------------------

    def play(self) -> None:
        if not self.playlist:
            raise InvalidRequest(f"{self.name} has nothing to play", code="empty_queue")
        if self.state != "playing":
            self._set_position(self._position if self.state == "paused" else 0.0)
            self.state = "playing"

    def pause(self) -> None:
        if self.state == "playing":
            self._set_position(self.position)
            self.state = "paused"

    def stop(self) -> None:
        self.state = "idle"
        self._set_position(0.0)

    def next(self, *, track_ended: bool = False) -> None:
        if not self.playlist:
            return
        if track_ended and self.repeat == "one":
            self._set_position(0.0)
            return
        if self.shuffle and len(self.playlist) > 1:
            self.index = self._rng.choice([i for i in range(len(self.playlist)) if i != self.index])
        elif self.index + 1 < len(self.playlist):
            self.index += 1
        elif self.repeat == "all":
            self.index = 0
        else:
            self.stop()  # the end of the playlist
            return
        self._set_position(0.0)

    def previous(self) -> None:
        if self.position > 3 or not self.playlist:
            self._set_position(0.0)
            return
        self.index = (self.index - 1) % len(self.playlist)
        self._set_position(0.0)

    def seek(self, seconds: float) -> None:
        track = self.track
        if track is None:
            raise InvalidRequest("nothing to seek in", code="empty_queue")
        if track.duration is not None and seconds > track.duration:
            raise InvalidRequest(
                f"position {seconds:g} s is beyond the track's {track.duration:g} s",
                code="invalid_params")
        self._set_position(seconds)

    def play_media(self, tracks: list[Track], enqueue: str) -> None:
        """Queue `tracks` (one track, an album, a playlist, a stream) as `enqueue` says:
        replace the queue, play now, play next, or add at the end."""
        if enqueue == "replace":
            self.playlist = list(tracks)
            self.index = 0
            self.stop()
            self.play()
        elif enqueue == "add":
            self.playlist.extend(tracks)
        elif enqueue == "next":
            at = self.index + 1 if self.playlist else 0
            self.playlist[at:at] = tracks
        else:  # play
            at = self.index + 1 if self.playlist else 0
            self.playlist[at:at] = tracks
            self.index = at
            self.stop()
            self.play()
        self.source = "Playlist"

    def select_source(self, source: str) -> None:
        match = next((s for s in SOURCES if s.lower() == source.lower()), None)
        if match is None:
            raise InvalidRequest(f"unknown source {source!r}; one of {', '.join(SOURCES)}",
                                 code="invalid_params", source_list=list(SOURCES))
        self.source = match
        if match != "Playlist":
            self.playlist = [Track(f"demo:source:{match.lower()}", match)]
            self.index = 0
            self.stop()
            self.play()

    def copy_playback_from(self, leader: Player) -> None:
        """Group members play what their leader plays."""
        self.playlist = list(leader.playlist)
        self.index, self.state = leader.index, leader.state
        self.shuffle, self.repeat, self.source = leader.shuffle, leader.repeat, leader.source
        self._position, self._since = leader._position, leader._since
        self._since_wall = leader._since_wall

    def attributes(self) -> dict[str, Any]:
        track = self.track
        return {
            "volume": self.volume,
            "muted": self.muted,
            "media_title": track.title if track else None,
            "media_artist": track.artist if track else None,
            "media_album": track.album if track else None,
            "media_content_id": track.media_id if track else None,
            "media_duration": track.duration if track else None,
            # As in Home Assistant: the position as of media_position_updated_at; clients
            # add the time since then while playing, so no event is needed every second.
            "media_position": round(self._position, 3),
            "media_position_updated_at": self._since_wall or None,
            "source": self.source,
            "source_list": list(SOURCES),
            "shuffle": self.shuffle,
            "repeat": self.repeat,
            "queue_length": len(self.playlist),
        }
