"""BlazeFace (MediaPipe's face detector) through onnxruntime: the daemon's default detector.

Model input. The packaged models (tools/convert_blazeface.py) take the letterboxed frame as
it is: uint8, NHWC [1, S, S, 3], BGR, 0..255, black bars; the conversion to MediaPipe's RGB
[-1, 1] NCHW happens inside the graph, so the hot path is one resize into a zeroed buffer.
Other BlazeFace ONNX files (a plain tflite2onnx conversion, or the NHWC one on npm) take
float input: those get MediaPipe's own convention, RGB scaled to [-1, 1], NHWC or NCHW as
their input shape says. S is 128 (short range, faces within about 2 m) or 192 (full range,
faces up to about 5 m); the variant is read from the input size.

Thread safety: detect() keeps no per-call state on the instance, so cameras on several
threads may share one detector.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edge_daemon.config.detector import BlazeFaceConfig
from edge_daemon.core.frames import to_bgr8
from edge_daemon.core.package_data import package_dir
from edge_daemon.core.records import Box, Detection
from edge_daemon.inference.detectors.ssd import (
    VARIANTS,
    BlazeFaceVariant,
    RawFaces,
    decode,
    ssd_anchors,
    weighted_nms,
)
from edge_daemon.inference.onnx_model import ModelLoadError, OnnxModel, RuntimeOptions

log = logging.getLogger(__name__)

MODELS_DIR = package_dir("models")
DEFAULT_NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold for both variants
# Each variant is packaged twice: the plain conversion, and the same network rewritten for
# onnxruntime's blocked layout (tools/blazeface_graph.py). The rewrite makes it 25 % faster
# on x86-64 (1.40 -> 1.03 ms, short range, AVX2) and about 5 % slower where onnxruntime
# runs no blocked kernels, as in its aarch64 wheels (measured with them turned off).
LAYOUTS = ("portable", "x86_64")
PACKAGED_DIMENSIONS = ("height", "width")  # the free input dimensions of the packaged short model
BLOCKED_MACHINES = {"x86_64", "amd64"}


def model_file(variant: str, layout: str = "portable") -> str:
    """The file name of a packaged BlazeFace model."""
    if variant not in ("short", "full"):
        raise ValueError(f"unknown BlazeFace variant {variant!r}; choose short or full")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose {' or '.join(LAYOUTS)}")
    suffix = "" if layout == "portable" else f".{layout}"
    return f"blazeface_{variant}_range{suffix}.onnx"


def default_model_path(variant: str = "short", machine: str | None = None) -> Path:
    """The packaged BlazeFace model for a variant, in the layout fastest on this machine."""
    machine = (machine or platform.machine()).lower()
    layout = "x86_64" if machine in BLOCKED_MACHINES else "portable"
    return MODELS_DIR / model_file(variant, layout)


@dataclass(frozen=True)
class Letterbox:
    """Where a frame landed inside the square model input."""

    scale_x: float  # input pixels per frame pixel
    scale_y: float
    pad_x: int
    pad_y: int


def letterbox_into(image: np.ndarray, out: np.ndarray) -> Letterbox:
    """Resize image into the centre of the zeroed `out` (H x W x C), keeping its shape."""
    size_h, size_w = out.shape[:2]
    h, w = image.shape[:2]
    scale = min(size_w / w, size_h / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    pad_x, pad_y = (size_w - new_w) // 2, (size_h - new_h) // 2
    # Bilinear, as MediaPipe's own pre-processing: INTER_AREA found the same faces on the test
    # videos but cost 10-15x more (0.4 ms vs 0.04 ms for 640 x 480 at 128 x 96).
    cv2.resize(image, (new_w, new_h), dst=out[pad_y:pad_y + new_h, pad_x:pad_x + new_w],
               interpolation=cv2.INTER_LINEAR)
    return Letterbox(new_w / w, new_h / h, pad_x, pad_y)


@dataclass(frozen=True)
class _InputFormat:
    height: int
    width: int
    uint8: bool  # True: fed 0..255 as is (the packaged models); False: scaled to [-1, 1]
    nchw: bool
    bgr: bool  # from the model's "input_channels" metadata: bgr (packaged) or rgb (MediaPipe)
    free: bool  # the model takes any height and width (named dimensions)


def _input_format(model: OnnxModel, sized: tuple[int, int] | None = None) -> _InputFormat:
    """sized: the (height, width) the packaged dimension names were fixed to, if any."""
    shape = model.input_shape
    dtype = model.session.get_inputs()[0].type
    if len(shape) != 4:
        raise ModelLoadError(f"{model.path}: input shape {shape} is not an image")
    if shape[3] == 3 and shape[1] != 3:
        nchw, spatial = False, shape[1:3]
    elif shape[1] == 3:
        nchw, spatial = True, shape[2:4]
    else:
        raise ModelLoadError(f"{model.path}: input shape {shape} is not an RGB image")
    free = all(isinstance(d, str) for d in spatial) or (
        sized is not None and tuple(spatial) == tuple(sized))
    if not free and not (all(isinstance(d, int) for d in spatial) and spatial[0] == spatial[1]):
        raise ModelLoadError(f"{model.path}: input shape {shape} is neither a fixed square "
                             "image nor one of any height and width")
    if dtype not in ("tensor(uint8)", "tensor(float)"):
        raise ModelLoadError(f"{model.path}: input type {dtype} is not uint8 or float")
    height, width = (0, 0) if free else (int(spatial[0]), int(spatial[1]))
    bgr = model.metadata_props.get("input_channels", "rgb") == "bgr"
    return _InputFormat(height, width, dtype == "tensor(uint8)", nchw, bgr, free)


class BlazeFaceDetector:
    """Every face in a BGR frame, from a BlazeFace ONNX model, best first."""

    name = "blazeface"

    def __init__(
        self,
        model_path: str | Path | None = None,
        options: RuntimeOptions | None = None,
        *,
        variant: str | None = None,
        input_size: tuple[int, int] | None = None,
        score_threshold: float | None = None,
        nms_iou_threshold: float = DEFAULT_NMS_IOU,
        min_face_size: float = 0.0,
    ) -> None:
        """input_size: (height, width) to run a model of free input size at (multiples of
        16); a larger input finds smaller faces at a cost that grows with its area."""
        if variant is not None and variant not in VARIANTS:
            raise ValueError(f"unknown BlazeFace variant {variant!r}; choose short or full")
        path = model_path or default_model_path(variant or "short")
        if input_size is not None:
            _check_input_size(*input_size)
        # A session per size, onnxruntime then plans every layer for fixed shapes. The
        # packaged models name their free dimensions height and width: one session only.
        named = dict(zip(PACKAGED_DIMENSIONS, input_size, strict=True)) if input_size else None
        self.model = OnnxModel(path, options, named)
        fmt = _input_format(self.model, input_size)
        self.variant = _variant_of(self.model, fmt, variant)
        if fmt.free:
            height, width = input_size or (self.variant.input_size,) * 2
            spatial = self.model.input_shape[2:4] if fmt.nchw else self.model.input_shape[1:3]
            if all(isinstance(d, str) for d in spatial) and input_size is not None:
                self.model = OnnxModel(path, options, {spatial[0]: height, spatial[1]: width})
            fmt = replace(fmt, height=height, width=width)
        elif input_size is not None and tuple(input_size) != (fmt.height, fmt.width):
            raise ValueError(f"{self.model.path}: this model takes {fmt.width}x{fmt.height} "
                             f"input only; an input size of {input_size[1]}x{input_size[0]} "
                             "needs a model of free input size (the packaged short-range one)")
        self._format = fmt
        self.input_size = (fmt.height, fmt.width)
        self.free_input_size = fmt.free  # whether another input_size may be asked for
        self.score_threshold = (self.variant.score_threshold if score_threshold is None
                                else float(score_threshold))
        self.nms_iou_threshold = float(nms_iou_threshold)
        self.min_face_size = float(min_face_size)
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        if not 0.0 < self.nms_iou_threshold <= 1.0:
            raise ValueError(f"nms_iou_threshold must be in (0, 1], got {nms_iou_threshold}")
        if self.min_face_size < 0:
            raise ValueError(f"min_face_size must be >= 0 pixels, got {min_face_size}")
        self.anchors = ssd_anchors(self.variant, fmt.height, fmt.width)
        self._regressors_at, self._scores_at = self._find_outputs()
        log.info("BlazeFace %s range from %s at %dx%d (%d anchors, score >= %.2f)",
                 self.variant.name, self.model.path, fmt.width, fmt.height, len(self.anchors),
                 self.score_threshold)

    @classmethod
    def from_config(cls, config: BlazeFaceConfig, options: RuntimeOptions,
                    input_size: tuple[int, int] | None = None) -> BlazeFaceDetector:
        """The detector of a `detector: {backend: blazeface}` section."""
        where = {"variant": config.model} if config.named_model else {"model_path": config.model}
        return cls(options=options, input_size=input_size, **where,
                   score_threshold=config.score_threshold, nms_iou_threshold=config.nms_iou)

    def _find_outputs(self) -> tuple[int, int]:
        """Tell the regressor output from the score output; the run also warms the model up."""
        outputs = self.model.run(self.prepare(np.zeros((8, 8, 3), np.uint8))[0])
        shapes = [o.shape for o in outputs]
        count = len(self.anchors)
        by_width = {s[-1]: i for i, s in enumerate(shapes) if len(s) == 3 and s[1] == count}
        if len(outputs) != 2 or set(by_width) != {16, 1}:
            raise ModelLoadError(
                f"{self.model.path}: outputs {shapes} are not BlazeFace's "
                f"[1, {count}, 16] regressors and [1, {count}, 1] scores"
            )
        return by_width[16], by_width[1]

    def prepare(self, bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The model input tensor for a BGR uint8 frame, and where the frame sits in it."""
        fmt = self._format
        canvas = np.zeros((1, fmt.height, fmt.width, 3), np.uint8)
        placement = letterbox_into(bgr, canvas[0])
        if fmt.uint8:
            return (canvas if fmt.bgr else canvas[..., ::-1].copy()), placement
        tensor = canvas if fmt.bgr else canvas[..., ::-1]
        tensor = tensor.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
        if fmt.nchw:
            tensor = np.ascontiguousarray(tensor.transpose(0, 3, 1, 2))
        return tensor, placement

    def detect_raw(self, bgr: np.ndarray) -> tuple[RawFaces, Letterbox]:
        """Faces after weighted NMS, in model-input fractions, with the letterbox to undo."""
        tensor, placement = self.prepare(bgr)
        outputs = self.model.run(tensor)
        regressors = outputs[self._regressors_at][0]
        logits = outputs[self._scores_at][0, :, 0]
        faces = decode(regressors, logits, self.anchors, self.input_size, self.score_threshold)
        return weighted_nms(faces, self.nms_iou_threshold), placement

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in a BGR uint8 frame (gray and BGRA accepted), best first, in its pixels."""
        bgr = to_bgr8(image)
        faces, placement = self.detect_raw(bgr)
        if not len(faces):
            return []
        h, w = bgr.shape[:2]
        size_h, size_w = self.input_size

        def to_frame(x: float, y: float) -> tuple[float, float]:
            # Undo the letterbox: input fraction -> input pixel -> frame pixel. In plain
            # Python: a frame has a few faces, and numpy's per-call cost would dominate.
            return ((x * size_w - placement.pad_x) / placement.scale_x,
                    (y * size_h - placement.pad_y) / placement.scale_y)

        detections = []
        for (x1, y1, x2, y2), points, score in zip(
                faces.boxes.tolist(), faces.keypoints.tolist(), faces.scores.tolist(),
                strict=True):
            (left, top), (right, bottom) = to_frame(x1, y1), to_frame(x2, y2)
            if min(right - left, bottom - top) < self.min_face_size:
                continue
            box = Box(left, top, right, bottom).clipped(float(w), float(h))
            detections.append(Detection(box, score, tuple(to_frame(x, y) for x, y in points)))
        return detections


def _check_input_size(height: int, width: int) -> None:
    if min(height, width) < 16 or height % 16 or width % 16:
        raise ValueError(f"input size {width}x{height}: both sides must be multiples of 16")


def _variant_of(model: OnnxModel, fmt: _InputFormat, wanted: str | None) -> BlazeFaceVariant:
    path, size = model.path, fmt.height
    if fmt.free:
        named = model.metadata_props.get("variant", wanted or "short")
        if named not in VARIANTS:
            raise ModelLoadError(f"{path}: metadata names variant {named!r}, not short or full")
        size = VARIANTS[named].input_size
    found = [v for v in VARIANTS.values() if v.input_size == size]
    if not found:
        raise ModelLoadError(f"{path}: input size {size} is neither short range (128) "
                             "nor full range (192) BlazeFace")
    variant = found[0]
    if wanted is not None and wanted != variant.name:
        raise ModelLoadError(f"{path}: variant {wanted!r} was asked for but the model takes "
                             f"{size} x {size} input, which is the {variant.name}-range model")
    return variant
