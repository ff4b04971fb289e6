"""Emotion episodes from a sequence of results: announced after the minimum duration,
back-dated, updated, ended by another emotion or the face leaving; no-face episodes."""

from __future__ import annotations

import pytest

from edge_daemon.config.episodes import EpisodesConfig
from edge_daemon.core.records import Box, FaceResult, FrameResult
from edge_daemon.tracking.episodes import EpisodeTracker

LABELS = ("happy", "sad")
BOX = Box(10, 10, 50, 60)


def face(track: int, emotion: str, happy: float) -> FaceResult:
    probs = (happy, 1 - happy)
    return FaceResult(track, BOX, 0.9, probs, probs, emotion)


def frame(t: float, *faces: FaceResult) -> FrameResult:
    return FrameResult("front", int(t * 10), t, 100, 100, LABELS, faces)


def run(tracker: EpisodeTracker, frames) -> list:
    events = []
    for result in frames:
        events += tracker.update(result)
    return events


def test_an_episode_is_announced_back_dated_once_it_lasts_and_ends_with_its_stats():
    tracker = EpisodeTracker("front", LABELS, EpisodesConfig(min_duration_s=3.0,
                                                             update_interval_s=0, no_face=False))
    happy = [frame(t / 10, face(1, "happy", 0.6 + 0.01 * (t % 5))) for t in range(0, 51)]
    sad = [frame(5.1 + t / 10, face(1, "sad", 0.2)) for t in range(0, 5)]
    events = run(tracker, happy + sad)
    assert [e.kind for e in events] == ["start", "end"]  # the sad 0.4 s: not announced
    start, end = events[0], events[1]
    assert start.kind == "start" and start.emotion == "happy" and start.track_id == 1
    assert start.start == 0.0 and start.duration == pytest.approx(3.0)  # announced at 3 s
    assert end.kind == "end" and end.end == pytest.approx(5.0)  # last frame still happy
    assert end.duration == pytest.approx(5.0) and end.frames == 51
    assert end.peak == pytest.approx(0.64) and 0.6 < end.mean < 0.64
    assert end.box == BOX and end.episode == start.episode == 1


def test_a_flicker_shorter_than_the_minimum_is_never_published():
    tracker = EpisodeTracker("front", LABELS, EpisodesConfig(min_duration_s=1.0, no_face=False))
    frames = [frame(t / 10, face(1, "happy" if t % 6 else "sad", 0.5)) for t in range(30)]
    assert [(e.kind, e.emotion) for e in run(tracker, frames)] == []


def test_updates_come_at_their_interval_while_an_episode_goes_on():
    tracker = EpisodeTracker("front", LABELS, EpisodesConfig(min_duration_s=1.0,
                                                             update_interval_s=2.0, no_face=False))
    events = run(tracker, [frame(t / 10, face(1, "happy", 0.7)) for t in range(0, 71)])
    assert [(e.kind, round(e.duration, 1)) for e in events] == [
        ("start", 1.0), ("update", 3.0), ("update", 5.0), ("update", 7.0)]
    assert all(e.end is None for e in events)


def test_a_face_missed_for_a_moment_keeps_its_episode_one_that_leaves_ends_it():
    config = EpisodesConfig(min_duration_s=1.0, update_interval_s=0, end_grace_s=1.0,
                            no_face=False)
    tracker = EpisodeTracker("front", LABELS, config)
    seen = [frame(t / 10, face(7, "happy", 0.8)) for t in range(0, 20)]
    missed = [frame(2.0 + t / 10) for t in range(5)]  # 0.5 s without the face
    back = [frame(2.5 + t / 10, face(7, "happy", 0.8)) for t in range(10)]
    gone = [frame(3.5 + t / 10) for t in range(15)]
    events = run(tracker, seen + missed + back + gone)
    assert [e.kind for e in events] == ["start", "end"]
    assert events[1].end == pytest.approx(3.4)  # when the face was last seen
    assert events[1].track_id == 7


def test_nobody_in_view_is_an_episode_too():
    tracker = EpisodeTracker("front", LABELS, EpisodesConfig(min_duration_s=2.0,
                                                             update_interval_s=0))
    empty = [frame(t / 10) for t in range(0, 31)]
    someone = [frame(3.1 + t / 10, face(1, "happy", 0.9)) for t in range(0, 31)]
    events = run(tracker, empty + someone)
    nobody = [e for e in events if e.track_id is None]
    assert [(e.kind, e.emotion) for e in nobody] == [("start", None), ("end", None)]
    assert nobody[1].start == 0.0 and nobody[1].end == pytest.approx(3.1)
    assert nobody[1].peak is None and nobody[1].mean is None and nobody[1].box is None
    assert [(e.kind, e.emotion) for e in events if e.track_id == 1] == [("start", "happy")]


def test_finish_ends_what_is_open_and_disabled_sends_nothing():
    tracker = EpisodeTracker("front", LABELS, EpisodesConfig(min_duration_s=0.5, no_face=False))
    run(tracker, [frame(t / 10, face(1, "sad", 0.3)) for t in range(10)])
    (end,) = tracker.finish(10.0)
    assert end.kind == "end" and end.emotion == "sad" and end.end == pytest.approx(0.9)
    off = EpisodeTracker("front", LABELS, EpisodesConfig(enabled=False))
    assert run(off, [frame(t / 10, face(1, "sad", 0.3)) for t in range(100)]) == []


def test_a_face_for_a_moment_does_not_end_nobody_in_view():
    tracker = EpisodeTracker("front", LABELS, EpisodesConfig(min_duration_s=1.0,
                                                             end_grace_s=0.5))
    frames = ([frame(t / 10) for t in range(20)] + [frame(2.0, face(3, "sad", 0.2))]
              + [frame(2.1 + t / 10) for t in range(20)])
    assert [(e.kind, e.track_id) for e in run(tracker, frames)] == [("start", None)]
