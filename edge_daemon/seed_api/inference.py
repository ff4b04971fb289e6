"""On-demand inference for the seed protocol: one image in, the face's probabilities out.

The app hands the server its detector and classifier through this small class (both are
safe to share between threads); the server never touches the camera loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_daemon.core.records import Box
from edge_daemon.core.stages import FaceDetector
from edge_daemon.inference.classifier import EmotionClassifier


@dataclass(frozen=True)
class ImageEmotion:
    """The model's probabilities for the face in one image, and where that face was."""

    probabilities: np.ndarray  # shape (len(labels),), in the model's label order
    box: Box | None  # the detected face; None when the whole image was taken as the face


class OnDemandInference:
    """Detects the largest face of an image and classifies it, as the camera loops do.

    The seed's client sends a face already cropped; a full frame works too. The detector
    decides: the largest face it finds is cropped by the model's own crop rule (as in the
    camera loops); when it finds none, the whole image is taken to be the face (a crop so
    tight that the detector misses it).
    """

    def __init__(self, detector: FaceDetector, classifier: EmotionClassifier) -> None:
        self.detector = detector
        self.classifier = classifier

    @property
    def labels(self) -> Sequence[str]:
        """The model's labels, in the order of its probabilities."""
        return self.classifier.labels

    @property
    def model_name(self) -> str:
        """The emotion model's name from its metadata."""
        return self.classifier.meta.name

    def estimate(self, image: np.ndarray) -> ImageEmotion:
        """Probabilities for the largest face of a BGR image (or the image as a face)."""
        detections = self.detector.detect(image)
        if detections:
            box: Box | None = max(detections, key=lambda d: d.box.area).box
            crop_box = box
        else:
            box = None
            crop_box = Box(0.0, 0.0, float(image.shape[1]), float(image.shape[0]))
        probabilities = self.classifier.classify(image, [crop_box])[0]
        return ImageEmotion(probabilities, box)
