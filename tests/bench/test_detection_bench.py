"""`emotion-edge bench --detection --quick` end to end: real registry faces and no-face videos,
the packaged models. Structure and sanity only (recall from 0 to 1, one entry per face-width
bin, ground truth beside the frames); the speed and recall goals are the full run's job."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge_daemon.bench.room_scenes import bin_labels, width_bin

SIZES = {"640x480": (640, 480), "1280x720": (1280, 720)}


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict, Path]:
    folder = tmp_path_factory.mktemp("detection")
    done = subprocess.run(
        [sys.executable, "-m", "edge_daemon", "bench", "--detection", "--quick",
         "--json", str(folder / "out.json"), "--plot", str(folder / "recall.png"),
         "--detection-frames", str(folder / "frames")],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads((folder / "out.json").read_text()), folder


def test_every_configuration_has_recall_per_width_bin_false_positives_and_cost(detection_run):
    _, report, _ = detection_run
    detection = report["detection"]
    assert set(detection["sizes"]) == set(SIZES)
    assert {"default", "short-128", "full-192"} <= set(detection["configurations"])
    for size in detection["sizes"].values():
        assert size["frames"] > 0
        for key, result in size["results"].items():
            assert list(result["recall"]) == bin_labels(), key
            for value in result["recall"].values():
                assert value is None or 0.0 <= value <= 1.0
            assert result["false_positives_per_1000_frames"] >= 0.0
            assert result["no_face_frames"] > 0
            assert 0 < result["room_ms"]["p50"] <= result["room_ms"]["p99"]
    # The large faces are found by everything: the ground truth is where the faces are.
    for key, result in detection["sizes"]["640x480"]["results"].items():
        assert result["recall"]["96+"] >= 0.8, key


def test_the_targets_are_ratios_within_the_run_and_the_text_names_them(detection_run):
    done, report, _ = detection_run
    targets = report["detection"]["targets"]
    assert len(targets) >= 6
    for target in targets:
        assert isinstance(target["met"], bool) and math.isfinite(target["value"])
    assert "Detection targets" in done.stdout and "20-28" in done.stdout
    agreement = report["detection"]["classifier_by_face_width"]["agreement_with_200px"]
    assert set(agreement) == {"100", "60", "40"}


def test_frames_and_ground_truth_are_saved_beside_each_other(detection_run):
    _, report, folder = detection_run
    for label, (width, height) in SIZES.items():
        truth = json.loads((folder / "frames" / label / "ground_truth.json").read_text())
        assert len(truth["frames"]) == report["detection"]["sizes"][label]["frames"]
        first = truth["frames"][0]
        image = cv2.imread(str(folder / "frames" / label / first["file"]))
        assert image is not None and image.shape[:2] == (height, width)
        for face in first["faces"]:
            assert 0 <= face["x1"] < face["x2"] <= width and 0 <= face["y1"] < face["y2"] <= height
    assert (folder / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_width_bins_cover_20_to_240_pixels():
    assert [width_bin(w) for w in (20, 27.9, 28, 40, 63.9, 64, 96, 240)] == [
        "20-28", "20-28", "28-40", "40-64", "40-64", "64-96", "96+", "96+"]
