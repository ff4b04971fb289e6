"""Cutting faces by a model's crop rule and building its input batch."""

from __future__ import annotations

import numpy as np
import pytest

from edge_daemon.core.records import Box
from edge_daemon.inference.crop import FacePreprocessor, crop_box
from edge_daemon.inference.metadata import CropRule, ModelMetadata


def test_seed_rule_extends_upward_by_half_the_height_clamped_at_the_top():
    assert crop_box(Box(100, 100, 200, 180), CropRule(top=0.5), 640, 480) == (100, 60, 200, 180)
    assert crop_box(Box(100, 20, 200, 120), CropRule(top=0.5), 640, 480) == (100, 0, 200, 120)


def test_square_rule_elongates_the_shorter_side_around_the_centre():
    assert crop_box(Box(100, 100, 140, 200), CropRule(square=True), 640, 480) == (70, 100, 170, 200)


def test_box_outside_the_frame_still_gives_a_pixel():
    x1, y1, x2, y2 = crop_box(Box(700, 500, 800, 600), CropRule(), 640, 480)
    assert x2 - x1 >= 1 and y2 - y1 >= 1 and x2 <= 640 and y2 <= 480


def _meta(channels: str, layout: str) -> ModelMetadata:
    n = 1 if channels == "gray" else 3
    return ModelMetadata(
        name="t", arch="t", labels=("a", "b"), input_height=8, input_width=6, layout=layout,
        channels=channels, scale=1 / 255, mean=(0.5,) * n, std=(0.25,) * n, crop=CropRule(),
        output="probabilities", quantization="none", source_sha256="", exporter_version="0",
        opset=17,
    )


@pytest.mark.parametrize(
    ("channels", "layout"), [("rgb", "NCHW"), ("bgr", "NHWC"), ("gray", "NCHW")]
)
def test_batch_shape_channel_order_and_normalization(channels, layout):
    image = np.zeros((40, 40, 3), np.uint8)
    image[..., 0] = 255  # pure blue in BGR
    batch = FacePreprocessor(_meta(channels, layout)).batch(image, [Box(0, 0, 20, 20)] * 2)
    n = 1 if channels == "gray" else 3
    expected_shape = (2, n, 8, 6) if layout == "NCHW" else (2, 8, 6, n)
    assert batch.shape == expected_shape and batch.dtype == np.float32
    first = batch[0]
    per_channel = first.reshape(n, -1).mean(1) if layout == "NCHW" else first.reshape(-1, n).mean(0)
    if channels == "rgb":
        np.testing.assert_allclose(per_channel, [-2.0, -2.0, 2.0], atol=1e-5)  # R, G, B
    elif channels == "bgr":
        np.testing.assert_allclose(per_channel, [2.0, -2.0, -2.0], atol=1e-5)
    else:
        gray = 255 * 0.114 / 255  # OpenCV's luma weight for blue
        np.testing.assert_allclose(per_channel, [(round(gray * 255) / 255 - 0.5) / 0.25], atol=1e-2)
