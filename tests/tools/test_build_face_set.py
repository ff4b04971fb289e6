"""edge_models.face_set (tools/build_face_set.py): face crops split by source, found again
by the daemon's detector."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from edge_daemon.inference.detectors import BlazeFaceDetector

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def face_set():
    from edge_models import face_set

    return face_set


def test_default_sources_split_by_source_with_both_splits(face_set):
    paths = [s.path for s in face_set.SOURCES]
    assert len(paths) == len(set(paths))
    splits = {s.split for s in face_set.SOURCES}
    assert splits == {"calibration", "holdout"}


def test_builds_crops_the_detector_finds_again_and_skips_a_second_run(assets, face_set,
                                                                      tmp_path):
    sources = (face_set.Source("feat-test-data/multi_face.jpg", "calibration"),
               face_set.Source("fer-test-data/test.mp4", "holdout", every=20))
    out = tmp_path / "faces"
    index = face_set.build_face_set(assets, out, sources)
    assert index["counts"] == {"calibration": 5, "holdout": 6}
    assert json.loads((out / "index.json").read_text()) == index
    detector = BlazeFaceDetector(variant="short")
    for face in index["faces"]:
        assert face["file"].startswith(face["split"] + "/")
        assert dict((s.path, s.split) for s in sources)[face["source"]] == face["split"]
        crop = cv2.imread(str(out / face["file"]))
        assert crop is not None and detector.detect(crop), face["file"]
    stamp = (out / "index.json").stat().st_mtime_ns
    assert face_set.build_face_set(assets, out, sources) == index
    assert (out / "index.json").stat().st_mtime_ns == stamp  # up to date: nothing rewritten
