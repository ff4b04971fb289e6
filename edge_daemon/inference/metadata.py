"""The metadata an exported emotion model carries inside its ONNX file.

This module is the only thing the export tool and the daemon share: the exporter writes a
`ModelMetadata` into the ONNX file's metadata_props, the daemon reads it back and configures
its pre- and post-processing from it alone. Every value is stored as JSON under a key with
the `emotion_edge.` prefix, so other tools' metadata can live beside ours.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

PREFIX = "emotion_edge."
SCHEMA_VERSION = 1

ChannelOrder = Literal["rgb", "bgr", "gray"]
Layout = Literal["NCHW", "NHWC"]
OutputKind = Literal["probabilities", "logits"]


class ModelMetadataError(ValueError):
    """An ONNX model lacks the export metadata, or the metadata is malformed."""


@dataclass(frozen=True)
class CropRule:
    """How a detected face box is grown before it is cut out and resized.

    With `square`, the shorter side is first elongated around the centre (as fer does);
    then each side moves out by a fraction of the box's height (top, bottom) or width
    (left, right). The result is clamped to the frame, then stretched to the input size.
    The seed's client extends the box upward by half its height: `CropRule(top=0.5)`.
    """

    top: float = 0.0
    bottom: float = 0.0
    left: float = 0.0
    right: float = 0.0
    square: bool = False


@dataclass(frozen=True)
class ModelMetadata:
    """Everything the daemon needs to feed an exported emotion model and read its output."""

    name: str
    arch: str
    labels: tuple[str, ...]
    input_height: int
    input_width: int
    layout: Layout
    channels: ChannelOrder
    scale: float  # pixel value (0..255) times scale, then (x - mean) / std per channel
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop: CropRule
    output: OutputKind
    quantization: str  # "none" (fp32) or "int8-qdq-u8s8-per-channel" and the like
    source_sha256: str
    exporter_version: str
    opset: int
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def channel_count(self) -> int:
        """1 for gray input, 3 otherwise."""
        return 1 if self.channels == "gray" else 3

    def to_props(self) -> dict[str, str]:
        """Encode as ONNX metadata_props (string to string)."""
        props = {PREFIX + "schema_version": str(SCHEMA_VERSION)}
        for key, value in asdict(self).items():
            props[PREFIX + key] = json.dumps(value)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ModelMetadata:
        """Decode from ONNX metadata_props; raise ModelMetadataError naming what is wrong."""
        ours = {k[len(PREFIX):]: v for k, v in props.items() if k.startswith(PREFIX)}
        if not ours:
            raise ModelMetadataError(
                "the model has no emotion-edge metadata; export it with emotion-edge-export"
            )
        version = ours.pop("schema_version", None)
        if version != str(SCHEMA_VERSION):
            raise ModelMetadataError(f"unsupported metadata schema version {version!r}")
        wanted = [f for f in cls.__dataclass_fields__ if f != "extra"]
        missing = [k for k in wanted if k not in ours]
        if missing:
            raise ModelMetadataError(f"model metadata lacks {', '.join(missing)}")
        try:
            values = {k: json.loads(v) for k, v in ours.items() if k in cls.__dataclass_fields__}
            values["labels"] = tuple(values["labels"])
            values["mean"] = tuple(float(x) for x in values["mean"])
            values["std"] = tuple(float(x) for x in values["std"])
            values["crop"] = CropRule(**values["crop"])
            meta = cls(**values)
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelMetadataError(f"malformed model metadata: {exc}") from exc
        meta.validate()
        return meta

    def validate(self) -> None:
        """Raise ModelMetadataError if the values contradict each other."""
        problems = []
        if not self.labels or len(set(self.labels)) != len(self.labels):
            problems.append("labels must be a non-empty list of distinct names")
        if self.channels not in ("rgb", "bgr", "gray"):
            problems.append(f"channels {self.channels!r} is not rgb, bgr or gray")
        if self.layout not in ("NCHW", "NHWC"):
            problems.append(f"layout {self.layout!r} is not NCHW or NHWC")
        if self.output not in ("probabilities", "logits"):
            problems.append(f"output {self.output!r} is not probabilities or logits")
        if len(self.mean) != self.channel_count or len(self.std) != self.channel_count:
            problems.append(f"mean and std need {self.channel_count} values for {self.channels}")
        if any(s <= 0 for s in self.std):
            problems.append("std values must be positive")
        if self.input_height <= 0 or self.input_width <= 0:
            problems.append("input size must be positive")
        if problems:
            raise ModelMetadataError("; ".join(problems))
