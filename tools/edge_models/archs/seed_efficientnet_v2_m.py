"""The seed's emotion network: torchvision's efficientnet_v2_m inside a wrapper.

Users' existing MODEL_FILEs are `torch.save(model.state_dict())` of this wrapper, so every
key starts with `base.`; the classifier ends in a softmax, so the outputs are probabilities.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import efficientnet_v2_m

from edge_daemon.inference.metadata import CropRule
from edge_models.archs._spec import Arch, ArchDefaults


class SeedEmotionNet(nn.Module):
    """The seed's wrapper: one child `base`, an efficientnet_v2_m with a softmax head."""

    def __init__(self, num_classes: int = 6, in_channels: int = 3) -> None:
        super().__init__()
        self.base = efficientnet_v2_m(weights=None)
        if in_channels != 3:
            stem = self.base.features[0][0]
            self.base.features[0][0] = nn.Conv2d(
                in_channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding,
                bias=False,
            )
        self.base.classifier = nn.Sequential(
            nn.Dropout(p=0.3),
            nn.Linear(1280, num_classes),
            nn.Softmax(dim=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities, shape (batch, num_classes)."""
        return self.base(x)


SEED_EFFICIENTNET_V2_M = Arch(
    name="seed-efficientnet-v2-m",
    description="the seed's model: torchvision efficientnet_v2_m in a wrapper (keys 'base.')",
    build=lambda num_classes, in_channels: SeedEmotionNet(num_classes, in_channels),
    defaults=ArchDefaults(
        # Alphabetical folder order of the seed's Kaggle training set.
        labels=("ahegao", "angry", "happy", "neutral", "sad", "surprise"),
        input_height=224,
        input_width=224,
        channels="rgb",
        scale=1 / 255,
        mean=(0.5432, 0.4287, 0.3821),
        std=(0.2862, 0.2541, 0.2465),
        # The seed's browser client grows the BlazeFace box upward by half its height.
        crop=CropRule(top=0.5),
        output="probabilities",
    ),
    head_key="base.classifier.1.weight",
    stem_key="base.features.0.0.weight",
)
