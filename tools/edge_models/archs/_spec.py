"""What an architecture entry holds: a module builder and its metadata defaults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from edge_daemon.inference.metadata import ChannelOrder, CropRule, Layout, OutputKind


@dataclass(frozen=True)
class ArchDefaults:
    """The values an exported model's metadata gets when the user does not override them."""

    labels: tuple[str, ...]
    input_height: int
    input_width: int
    channels: ChannelOrder
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop: CropRule
    output: OutputKind
    layout: Layout = "NCHW"


@dataclass(frozen=True)
class Arch:
    """One network the export tool can rebuild and load a state_dict into."""

    name: str
    description: str
    # (number of outputs, number of input channels) -> the network, in eval mode or not.
    build: Callable[[int, int], nn.Module]
    defaults: ArchDefaults
    # state_dict keys whose shapes tell the output width (dim 0) and input channels (dim 1),
    # so a model trained with other labels or gray input can be rebuilt to fit.
    head_key: str
    stem_key: str
