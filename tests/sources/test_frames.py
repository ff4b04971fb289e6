"""Frames of unexpected shape or type are converted to BGR uint8, or refused clearly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_daemon.config.cameras import CameraConfig
from edge_daemon.core.frames import FrameFormatError, to_bgr8
from edge_daemon.sources.registry import build_source


@pytest.fixture
def face(assets) -> np.ndarray:
    image = cv2.imread(str(assets / "feat-test-data" / "single_face.jpg"))
    assert image is not None
    return image


def test_bgr_passes_unchanged(face):
    out = to_bgr8(face)
    assert out.shape == face.shape and np.array_equal(out, face)


def test_gray_becomes_three_equal_channels(face):
    gray = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    for image in (gray, gray[..., None]):
        out = to_bgr8(image)
        assert out.shape == face.shape
        assert np.array_equal(out[..., 0], gray) and np.array_equal(out[..., 2], gray)


def test_bgra_loses_its_alpha(face):
    out = to_bgr8(cv2.cvtColor(face, cv2.COLOR_BGR2BGRA))
    assert np.array_equal(out, face)


def test_sixteen_bit_keeps_its_top_eight_bits(face):
    wide = face.astype(np.uint16) * 257  # 0..255 spread over 0..65535
    assert np.array_equal(to_bgr8(wide), face)


def test_a_strided_view_becomes_contiguous(face):
    out = to_bgr8(face[::2, ::2])
    assert out.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize(("image", "words"), [
    (np.zeros((10, 10, 3), np.float32), "float32"),
    (np.zeros((10, 10, 5), np.uint8), "5 channels"),
    (np.zeros((10,), np.uint8), "not an image"),
    (np.zeros((0, 10, 3), np.uint8), "not an image"),
    ("not an array", "str"),
])
def test_unusable_frames_are_refused_with_the_reason(image, words):
    with pytest.raises(FrameFormatError, match=words):
        to_bgr8(image)


def test_a_source_counts_and_reports_the_frames_it_refuses(assets, caplog):
    camera = CameraConfig.model_validate({"source": {
        "type": "file", "path": str(assets / "feat-test-data" / "single_face.mp4")}})
    source = build_source("cam", camera)
    with caplog.at_level("WARNING", logger="edge_daemon.sources.capture"):
        for _ in range(5):
            assert source._conform(np.zeros((8, 8, 3), np.float32)) is None
    assert source.stats.frames_rejected == 5
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "camera cam: frame rejected" in lines[0]
