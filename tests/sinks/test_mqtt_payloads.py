"""MQTT message bodies and topic names, built by pure functions."""

from __future__ import annotations

import json
import math

import pytest

from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.core.records import Box, FaceResult, FrameResult
from edge_daemon.sinks.mqtt.payloads import TopicLayout, attributes_payload, emotion_state
from edge_daemon.sinks.results_json import encode, iso_utc, results_payload

LABELS = ("angry", "happy", "sad")


def two_faces() -> FrameResult:
    small = FaceResult(4, Box(600, 0, 700, 100), 0.71, (0.7, 0.2, 0.1), (0.6, 0.3, 0.1), "angry")
    big = FaceResult(7, Box(-20, 40, 300, 400), 0.93, (0.1, 0.8, 0.1), (0.2, 0.7, 0.1), "happy")
    return FrameResult("front", 42, 1_700_000_000.25, 640, 480, LABELS, (small, big),
                       camera_emotion="happy", timings={"detection": 0.0123})


def test_results_payload_schema_and_values():
    p = results_payload(two_faces())
    assert p["timestamp"] == "2023-11-14T22:13:20.250Z" and p["epoch"] == 1_700_000_000.25
    assert (p["camera"], p["frame"], p["width"], p["height"]) == ("front", 42, 640, 480)
    assert [f["track_id"] for f in p["faces"]] == [4, 7]
    big = p["faces"][1]
    # Normalized and clipped to the frame: x1 -20 -> 0, x2 300/640, y 40/480 and 400/480.
    assert big["box"] == {"x1": 0.0, "y1": 0.0833, "x2": 0.4688, "y2": 0.8333}
    assert big["score"] == 0.93 and big["emotion"] == "happy"
    assert big["probabilities"] == {"angry": 0.1, "happy": 0.8, "sad": 0.1}
    assert big["smoothed"] == {"angry": 0.2, "happy": 0.7, "sad": 0.1}
    # Seed-compatible keys come from the largest face, not the first.
    assert p["predictions"] == {"angry": 0.1, "happy": 0.8, "sad": 0.1}
    assert p["emotion"] == "happy" and p["primary_track_id"] == 7
    assert p["camera_emotion"] == "happy"
    assert p["timings_ms"] == {"detection": 12.3}
    assert json.loads(encode(p)) == p


def test_no_face_payload_keeps_the_keys():
    p = results_payload(FrameResult("front", 1, 0.0, 640, 480, LABELS, ()))
    assert p["faces"] == [] and p["predictions"] == {}
    assert p["emotion"] is None and p["camera_emotion"] is None
    assert p["timestamp"] == "1970-01-01T00:00:00.000Z"


def test_non_finite_probability_becomes_null_not_invalid_json():
    face = FaceResult(1, Box(0, 0, 10, 10), 0.5, (math.nan, 1.0, 0.0), (0.0, 1.0, 0.0), "happy")
    p = results_payload(FrameResult("c", 1, 0.0, 10, 10, LABELS, (face,)))
    assert p["predictions"]["angry"] is None
    assert json.loads(encode(p))["faces"][0]["probabilities"]["angry"] is None


def test_attributes_and_emotion_state():
    attrs = attributes_payload(two_faces(), "none")
    assert attrs["happy"] == 0.7 and attrs["faces"] == 2 and attrs["track_id"] == 7
    assert attrs["emotion"] == "happy"
    empty = attributes_payload(FrameResult("c", 1, 0.0, 10, 10, LABELS, ()), "none")
    assert empty["happy"] is None and empty["emotion"] == "none" and empty["faces"] == 0
    assert emotion_state(None, "nobody") == "nobody" and emotion_state("sad", "x") == "sad"
    assert iso_utc(0.9994) == "1970-01-01T00:00:00.999Z"


def test_topic_layout_and_camera_names():
    cfg = MqttConfig(topic_prefix="ee/pi", topics={"results": {"topic": "r/{camera}"}})
    layout = TopicLayout(cfg)
    assert layout.availability == "ee/pi/availability"
    assert layout.results("front") == "ee/pi/r/front"
    assert layout.emotion("front") == "ee/pi/front/emotion"
    assert layout.attributes("front") == "ee/pi/front/attributes"
    for bad in ("a/b", "a+", "#", ""):
        with pytest.raises(ValueError, match="cannot be used in an MQTT topic"):
            layout.results(bad)
