"""The architecture registry: the seed's wrapper exactly, fer's mini-Xception, defaults."""

from __future__ import annotations

import pytest
import torch
from edge_models.archs import ARCHS, UnknownArchError, get_arch
from torch import nn

from edge_daemon.inference.metadata import CropRule

pytestmark = pytest.mark.export


def test_seed_arch_has_the_seed_files_layout():
    """1,120 keys all under base., 157 num_batches_tracked, about 52.9 M parameters."""
    model = get_arch("seed-efficientnet-v2-m").build(6, 3)
    state = model.state_dict()
    assert len(state) == 1120
    assert all(k.startswith("base.") for k in state)
    assert sum(k.endswith("num_batches_tracked") for k in state) == 157
    assert list(state["base.classifier.1.weight"].shape) == [6, 1280]
    params = sum(p.numel() for p in model.parameters())
    assert 52.8e6 < params < 53.0e6


def test_seed_arch_head_is_dropout_linear_softmax():
    head = get_arch("seed-efficientnet-v2-m").build(6, 3).base.classifier
    assert [type(m) for m in head] == [nn.Dropout, nn.Linear, nn.Softmax]
    assert head[2].dim == 1


def test_seed_defaults_are_the_seeds():
    d = get_arch("seed-efficientnet-v2-m").defaults
    assert d.labels == ("ahegao", "angry", "happy", "neutral", "sad", "surprise")
    assert (d.input_width, d.input_height, d.channels, d.layout) == (224, 224, "rgb", "NCHW")
    assert d.mean == (0.5432, 0.4287, 0.3821) and d.std == (0.2862, 0.2541, 0.2465)
    assert d.scale == pytest.approx(1 / 255)
    assert d.crop == CropRule(top=0.5)
    assert d.output == "probabilities"


def test_mini_xception_outputs_probabilities_for_any_input_size():
    arch = get_arch("mini-xception")
    model = arch.build(7, 1).eval()
    assert sum(p.numel() for p in model.parameters()) == 56951
    with torch.no_grad():
        for size in (64, 48, 71):  # even and odd sizes exercise TensorFlow's 'same' padding
            out = model(torch.randn(2, 1, size, size))
            assert out.shape == (2, 7)
            assert torch.allclose(out.sum(dim=1), torch.ones(2), atol=1e-5)
    assert arch.defaults.labels == ("angry", "disgust", "fear", "happy", "sad", "surprise",
                                    "neutral")
    assert arch.defaults.crop.square and arch.defaults.crop.top == pytest.approx(0.1)


def test_unknown_arch_lists_the_known_ones():
    with pytest.raises(UnknownArchError) as err:
        get_arch("resnet-9000")
    for name in ARCHS:
        assert name in str(err.value)
