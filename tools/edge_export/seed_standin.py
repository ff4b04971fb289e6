"""Stand-in weights for the seed architecture whose output depends on the input face.

The seed's trained MODEL_FILE is not public. Random weights make EfficientNetV2-M's output a
constant softmax of the classifier bias (its features vanish through the random layers), so
fidelity figures measured on them would mean nothing. The stand-in therefore starts from
random weights (fixed seed), recomputes every BatchNorm's statistics on real face images
(each layer then normalizes what it really sees, so features stay alive down the network)
and scales the classifier so that the logits spread over several units. The result is saved
the way the seed saves its file: keys prefixed `base.`, tensors tagged as saved on 'cuda:0'.

    python -m edge_export.seed_standin model_2_30.th            # 224 px, the seed's size
    python -m edge_export.seed_standin small.th --size 64        # what the tests use

The same arguments on the same face set give the same bytes (sha256), so the quantization
numbers measured on it can be reproduced.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from edge_models.archs import get_arch
from torch import nn

from edge_export.faces import default_face_set, image_files

log = logging.getLogger(__name__)

SEED = 0
IMAGES = 16  # face images the BatchNorm statistics are recomputed on
HEAD_GAIN = 60.0  # classifier weight scale: logits spread over several units
# A rough normalization of face photos (the statistics are recomputed anyway).
PIXEL_MEAN, PIXEL_STD = 0.45, 0.25


def face_images(folder: Path, size: int, limit: int) -> torch.Tensor:
    """The first `limit` images of folder (sorted), resized to size x size, RGB, NCHW."""
    images = [cv2.imread(str(p)) for p in image_files(folder, "stand-in face")[:limit]]
    rgb = np.stack([cv2.resize(im, (size, size))[..., ::-1].transpose(2, 0, 1) for im in images])
    return torch.from_numpy((rgb.astype(np.float32) / 255 - PIXEL_MEAN) / PIXEL_STD)


def make_seed_standin(faces: Path, size: int, images: int = IMAGES) -> nn.Module:
    """The seed architecture with random weights made input-dependent on real faces."""
    torch.manual_seed(SEED)
    model = get_arch("seed-efficientnet-v2-m").build(6, 3)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the batches seen
    model.train()
    with torch.no_grad():
        model(face_images(faces, size, images))
        head = model.base.classifier[1]
        head.weight.mul_(HEAD_GAIN)
        head.bias.zero_()
    return model.eval()


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


def save_seed_standin(out: Path, faces: Path, size: int, images: int = IMAGES) -> None:
    """Write the stand-in state_dict to out as the seed saves its MODEL_FILE."""
    model = make_seed_standin(faces, size, images)
    with saved_as_on_cuda():
        torch.save(model.state_dict(), out)


def main(argv: list[str] | None = None) -> int:
    """Command line: write a stand-in seed state_dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="state_dict file to write (e.g. model_2_30.th)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (224)")
    parser.add_argument("--faces", type=Path, default=None,
                        help="folder of face images (default: the face set's calibration part)")
    parser.add_argument("--images", type=int, default=IMAGES, help=f"images used ({IMAGES})")
    args = parser.parse_args(argv)
    faces = args.faces or default_face_set("calibration")
    save_seed_standin(args.out, faces, args.size, args.images)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
