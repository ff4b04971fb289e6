"""What the user asked for, and the model metadata that follows from it and the arch."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from edge_models.archs import Arch
from edge_models.checkpoint import input_channels, output_width
from edge_models.errors import ExportError

from edge_daemon.inference.metadata import CropRule, ModelMetadata, ModelMetadataError
from edge_export import EXPORTER_VERSION


@dataclass(frozen=True)
class ExportRequest:
    """One export: paths, overrides (None = the arch's default) and measurement settings."""

    arch: str
    state_dict: Path
    out: Path
    labels: tuple[str, ...] | None = None
    input_size: tuple[int, int] | None = None  # (width, height)
    channels: str | None = None
    scale: float | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    crop: CropRule | None = None
    quantize: str = "auto"
    calibration: Path | None = None
    holdout: Path | None = None
    opset: int = 17
    min_agreement: float = 0.99
    force: bool = False
    threads: int = 1
    max_calibration: int | None = None
    max_holdout: int | None = None
    latency_seconds: float = 3.0
    measure_memory: bool = True
    name: str | None = None


def _pick(value, default):
    return default if value is None else value


def resolve_metadata(arch: Arch, req: ExportRequest, state: dict[str, torch.Tensor],
                     source_sha256: str) -> ModelMetadata:
    """The metadata of the exported model: the request's values over the arch's defaults."""
    d = arch.defaults
    width = output_width(state, arch.head_key, len(d.labels))
    labels = tuple(_pick(req.labels, d.labels))
    if len(labels) != width:
        origin = "--labels gives" if req.labels is not None else f"{arch.name}'s default labels are"
        raise ExportError(
            f"the state_dict's output has {width} values but {origin} {len(labels)} labels"
            f" ({', '.join(labels)}); pass --labels with {width} names in output order"
        )
    channels = _pick(req.channels, d.channels)
    wanted = 1 if channels == "gray" else 3
    have = input_channels(state, arch.stem_key, 1 if d.channels == "gray" else 3)
    if wanted != have:
        raise ExportError(
            f"--channels {channels} gives {wanted} input channel(s) but the state_dict's first"
            f" layer takes {have}"
        )
    mean = tuple(_pick(req.mean, d.mean))
    std = tuple(_pick(req.std, d.std))
    # Mean and std apply per input channel index: with --channels bgr the seed's values stay
    # in their order, which is exactly what the seed's server did when it fed BGR.
    width_px, height_px = _pick(req.input_size, (d.input_width, d.input_height))
    meta = ModelMetadata(
        name=req.name or req.out.stem, arch=arch.name, labels=labels,
        input_height=height_px, input_width=width_px, layout=d.layout, channels=channels,
        scale=float(_pick(req.scale, d.scale)), mean=mean, std=std,
        crop=_pick(req.crop, d.crop), output=d.output, quantization="pending",
        source_sha256=source_sha256, exporter_version=EXPORTER_VERSION, opset=req.opset,
    )
    try:
        meta.validate()
    except ModelMetadataError as exc:
        raise ExportError(f"invalid model settings: {exc}") from exc
    return meta


def with_quantization(meta: ModelMetadata, quantization: str) -> ModelMetadata:
    """The same metadata naming the quantization of the chosen variant."""
    return replace(meta, quantization=quantization)
