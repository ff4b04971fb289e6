"""The default whole-frame search: from faces 40 px wide to one that fills the frame."""

from __future__ import annotations

import pytest

from edge_daemon.app import load_detector
from edge_daemon.bench.room_scenes import face_patches, no_face_frames, paste
from edge_daemon.config.detector import BlazeFaceConfig
from edge_daemon.config.runtime import RuntimeConfig
from edge_daemon.inference.detectors import build_detector
from edge_daemon.inference.detectors.search import PyramidSearch, canvas_for, coarse_width


@pytest.fixture(scope="module")
def scene(assets):
    patches = face_patches(assets, build_detector("blazeface", variant="full"), per_source=1)
    return patches[:8], no_face_frames(assets, (640, 480), step=30)[0]


def test_canvases_keep_the_frame_aspect_ratio_in_multiples_of_16():
    assert canvas_for((480, 640), 320) == (240, 320)
    assert canvas_for((720, 1280), 320) == (192, 320)
    assert coarse_width(320) == 80 and coarse_width(128) == 64 and coarse_width(640) == 160


@pytest.mark.parametrize("width", [44, 120, 300, 440])
def test_the_default_search_finds_a_face_of_any_size_once(scene, width):
    patches, background = scene
    search = load_detector(BlazeFaceConfig(), RuntimeConfig(threads=1))
    assert isinstance(search.for_frame((480, 640)), PyramidSearch)
    for patch in patches:
        frame = background.copy()
        truth = paste(frame, patch, width, 320, 240)
        found = search.detect(frame)
        assert len(found) == 1, (patch.source, width, found)
        assert found[0].box.iou(truth) >= 0.5, (patch.source, width)


def test_a_full_range_model_is_searched_at_its_own_size():
    search = load_detector(BlazeFaceConfig(model="full"), RuntimeConfig(threads=1))
    assert search.width is None
    assert search.for_frame((720, 1280)) is search.for_frame((480, 640))
