"""Emotion episodes: a tracked face's stable emotion from when it began to when it ended.

An episode opens when a face's (hysteresis-steadied) emotion first shows and ends when that
face shows another emotion or has not been seen for `end_grace_s`. It is announced with a
`start` event, back-dated to its beginning, only once it has lasted `min_duration_s`, so
that a flicker never reaches an automation; announced episodes get `update`s every
`update_interval_s` and an `end`. With `no_face`, stretches with nobody in view are
episodes too (track and emotion None).

Times come from the frames (their wall-clock capture time), so that a slow loop does not
stretch an episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_daemon.config.episodes import EpisodesConfig
from edge_daemon.core.records import Box, EpisodeEvent, FrameResult

_NOBODY = -1  # the key of the no-face episode among the track ids


@dataclass
class _Episode:
    number: int
    track_id: int | None
    emotion: str | None
    start: float
    last_seen: float
    last_sent: float = 0.0
    announced: bool = False
    frames: int = 0
    peak: float | None = None
    total: float = 0.0
    box: Box | None = None

    def add(self, at: float, probability: float | None, box: Box | None) -> None:
        self.last_seen = at
        self.frames += 1
        self.box = box
        if probability is not None:
            self.peak = probability if self.peak is None else max(self.peak, probability)
            self.total += probability

    def event(self, kind: str, camera: str, now: float) -> EpisodeEvent:
        end = self.last_seen if kind == "end" else None
        mean = self.total / self.frames if self.peak is not None and self.frames else None
        return EpisodeEvent(kind=kind, camera=camera, episode=self.number,
                            track_id=self.track_id, emotion=self.emotion, start=self.start,
                            end=end, duration=max(0.0, (end or now) - self.start),
                            peak=self.peak, mean=mean, box=self.box, frames=self.frames)


class EpisodeTracker:
    """Turns one camera's results into episode events (see the module docstring)."""

    def __init__(self, camera: str, labels: Sequence[str], config: EpisodesConfig) -> None:
        self.camera = camera
        self.labels = tuple(labels)
        self.config = config
        self._open: dict[int, _Episode] = {}
        self._count = 0
        self._faces_since: float | None = None  # faces in view since, while nobody is open

    def update(self, result: FrameResult) -> tuple[EpisodeEvent, ...]:
        """The events this frame causes (none while episodes merely go on)."""
        if not self.config.enabled:
            return ()
        now = result.timestamp
        events: list[EpisodeEvent] = []
        seen = set()
        for face in result.faces:
            if face.emotion is None:
                continue  # no usable probabilities: the face neither starts nor ends one
            seen.add(face.track_id)
            episode = self._open.get(face.track_id)
            if episode is not None and episode.emotion != face.emotion:
                events += self._close(face.track_id, now)
                episode = None
            if episode is None:
                episode = self._begin(face.track_id, face.emotion, now)
            index = self.labels.index(face.emotion) if face.emotion in self.labels else None
            episode.add(now, face.raw[index] if index is not None else None, face.box)
        if self.config.no_face:
            events += self._nobody(bool(result.faces), now)
        for key, episode in list(self._open.items()):
            if key not in seen and key != _NOBODY and \
                    now - episode.last_seen > self.config.end_grace_s:
                events += self._close(key, now)
        for episode in self._open.values():
            events += self._progress(episode, now)
        return tuple(events)

    def finish(self, now: float) -> tuple[EpisodeEvent, ...]:
        """End every open episode (the camera stopped, or the daemon): their `end` events."""
        events: list[EpisodeEvent] = []
        for key in list(self._open):
            events += self._close(key, now)
        return tuple(events)

    def _nobody(self, faces: bool, now: float) -> list[EpisodeEvent]:
        # The same grace the other way: a face seen for a moment (a false detection)
        # does not end "nobody in view"; one that stays ends it when it first showed.
        if faces:
            if _NOBODY not in self._open:
                return []
            if self._faces_since is None:
                self._faces_since = now
            if now - self._faces_since < self.config.end_grace_s:
                return []
            return self._close(_NOBODY, self._faces_since)
        self._faces_since = None
        episode = self._open.get(_NOBODY) or self._begin(_NOBODY, None, now)
        episode.add(now, None, None)
        return []

    def _begin(self, key: int, emotion: str | None, now: float) -> _Episode:
        self._count += 1
        track = None if key == _NOBODY else key
        episode = _Episode(self._count, track, emotion, start=now, last_seen=now)
        self._open[key] = episode
        return episode

    def _close(self, key: int, now: float) -> list[EpisodeEvent]:
        episode = self._open.pop(key)
        if key == _NOBODY:
            episode.last_seen = now  # nobody was in view until then
            self._faces_since = None
        if not episode.announced:
            return []  # too short to have been published: it never happened
        return [episode.event("end", self.camera, now)]

    def _progress(self, episode: _Episode, now: float) -> list[EpisodeEvent]:
        if not episode.announced:
            if now - episode.start < self.config.min_duration_s:
                return []
            episode.announced, episode.last_sent = True, now
            return [episode.event("start", self.camera, now)]
        interval = self.config.update_interval_s
        if interval > 0 and now - episode.last_sent >= interval:
            episode.last_sent = now
            return [episode.event("update", self.camera, now)]
        return []
