"""tools/arm64_results.py: the frame-by-frame comparison of check_arm64.sh, on small
synthetic recordings (no arm64 root, no broker)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import arm64_results  # tools/ (pytest's pythonpath)
import pytest

LABELS = ("angry", "happy", "neutral")


def _face(x1: float, happy: float, emotion: str = "happy") -> dict:
    rest = (1.0 - happy) / 2
    return {"track_id": 1, "box": {"x1": x1, "y1": 0.2, "x2": x1 + 0.25, "y2": 0.6},
            "score": 0.9, "emotion": emotion,
            "probabilities": {"angry": rest, "happy": happy, "neutral": rest}}


def _recording(frames: int = 4, faces: int = 1) -> dict[str, dict[int, dict]]:
    return {"cam": {f: {"camera": "cam", "frame": f, "width": 640, "height": 360,
                        "faces": [_face(0.1 + 0.3 * i, 0.8) for i in range(faces)]}
                    for f in range(frames)}}


def test_identical_recordings_match() -> None:
    a = _recording()
    summary = arm64_results.compare_recordings(a, copy.deepcopy(a), expect_frames=4)
    assert summary["verdict"] == "match", summary["problems"]
    assert summary["frames_compared"] == 4
    assert summary["faces_compared"] == 4
    assert summary["max_box_px"] == 0.0


def test_small_differences_are_within_tolerance() -> None:
    a, b = _recording(), _recording()
    b["cam"][2]["faces"][0]["box"]["x1"] += 0.5 / 640  # half a pixel
    b["cam"][3]["faces"][0]["probabilities"]["happy"] += 4e-4
    summary = arm64_results.compare_recordings(a, b)
    assert summary["verdict"] == "match", summary["problems"]
    assert summary["max_box_px"] == pytest.approx(0.5)
    assert summary["max_box_px_at"]["frame"] == 2
    assert summary["max_prob"] == pytest.approx(4e-4)
    assert summary["max_prob_at"] == {"camera": "cam", "frame": 3, "face": 0, "label": "happy"}


@pytest.mark.parametrize(("change", "problem"), [
    (lambda b: b["cam"][1]["faces"][0]["box"].update(y2=0.6 + 2 / 360), "px apart"),
    (lambda b: b["cam"][1]["faces"][0]["probabilities"].update(happy=0.81), "probability"),
    (lambda b: b["cam"][1]["faces"].clear(), "face counts"),
    (lambda b: b["cam"][1]["faces"][0].update(emotion="sad"), "hysteresis emotions"),
    (lambda b: b["cam"][1]["faces"][0]["probabilities"].update(happy=0.1, angry=0.8),
     "top-1"),
    (lambda b: b["cam"].pop(3), "only one run"),
    (lambda b: b["cam"][1].update(width=320), "frame sizes"),
])
def test_each_kind_of_difference_is_a_mismatch(change, problem) -> None:
    a, b = _recording(), _recording()
    change(b)
    summary = arm64_results.compare_recordings(a, b)
    assert summary["verdict"] == "mismatch"
    assert any(problem in p for p in summary["problems"]), summary["problems"]


def test_expected_frames_catch_frames_lost_in_both_runs() -> None:
    a = _recording(frames=5)
    for recording in (a, b := copy.deepcopy(a)):
        del recording["cam"][2]
    summary = arm64_results.compare_recordings(a, b, expect_frames=5)
    assert summary["verdict"] == "mismatch"
    assert summary["cameras"]["cam"]["gaps_a"] == [[2, 2]]


def test_faces_in_swapped_order_are_paired_by_box() -> None:
    a, b = _recording(faces=2), _recording(faces=2)
    for frame in b["cam"].values():
        frame["faces"].reverse()
    summary = arm64_results.compare_recordings(a, b)
    assert summary["verdict"] == "match", summary["problems"]


def test_frames_without_faces_only_are_a_mismatch() -> None:
    a = _recording(faces=0)
    summary = arm64_results.compare_recordings(a, copy.deepcopy(a))
    assert summary["verdict"] == "mismatch"
    assert "nothing of the models" in summary["problems"][0]


def test_recording_files_round_trip_and_duplicates(tmp_path: Path) -> None:
    a = _recording()
    path = tmp_path / "rec.jsonl"
    lines = [json.dumps({"topic": "p/cam/results", "payload": p}) for p in a["cam"].values()]
    lines.append(lines[1])  # a QoS 1 redelivery
    path.write_text("\n".join(lines) + "\n")
    assert arm64_results.load_recording(path) == a
    changed = json.loads(lines[1])
    changed["payload"]["faces"] = []
    path.write_text("\n".join([*lines, json.dumps(changed)]) + "\n")
    with pytest.raises(ValueError, match="recorded twice"):
        arm64_results.load_recording(path)


def test_report_json_has_no_infinity() -> None:
    a, b = _recording(), _recording()
    b["cam"][0]["faces"][0]["probabilities"] = {"angry": 0.5, "happy": 0.5}  # labels differ
    summary = arm64_results.compare_recordings(a, b)
    json.dumps(summary, allow_nan=False)
    assert summary["verdict"] == "mismatch"
    assert arm64_results.format_comparison(summary, "x86_64", "arm64").endswith(
        "same faces and top-1)")
