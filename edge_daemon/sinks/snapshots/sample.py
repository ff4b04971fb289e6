"""Turning one result and its frame into a sample's files: face crops, the boxed frame, a sidecar.

The face crops are cut by the classifier's own FacePreprocessor, so a saved crop is exactly
the region the model was given (before it was resized, and in colour even for a gray model).
Frames are BGR, as OpenCV encodes them: the colours come out right. The frame is shared
and read-only; the boxes are drawn on a copy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

import cv2
import numpy as np

from edge_daemon.core.records import FaceResult, Frame, FrameResult
from edge_daemon.core.stages import FaceCrops

SIDECAR_SCHEMA = 1
BOX_BGR = (80, 220, 60)  # green
TEXT_BGR = (255, 255, 255)
FRAME_SUFFIX = "_frame.jpg"


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a BGR image."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {image.shape}")
    return data.tobytes()


def face_suffix(index: int) -> str:
    """File suffix of the index-th face crop of a sample."""
    return f"_face{index}.jpg"



def sample_images(result: FrameResult, frame: Frame, model_view: FaceCrops,
                  kinds: Sequence[str], quality: int) -> list[tuple[str, bytes]]:
    """(suffix, JPEG bytes) of the face crops and/or the boxed frame, as configured."""
    images: list[tuple[str, bytes]] = []
    if "face" in kinds:
        crops = model_view.crops(frame.image, [face.box for face in result.faces])
        images += [(face_suffix(i), encode_jpeg(crop, quality)) for i, crop in enumerate(crops)]
    if "frame" in kinds:
        images.append((FRAME_SUFFIX, encode_jpeg(boxed_frame(frame.image, result.faces),
                                                 quality)))
    return images


def boxed_frame(image: np.ndarray, faces: Sequence[FaceResult]) -> np.ndarray:
    """A copy of the frame with each face's box and stable emotion drawn on it."""
    canvas = image.copy()
    thickness = max(1, round(min(image.shape[:2]) / 240))
    for face in faces:
        b = face.box
        top_left, bottom_right = (round(b.x1), round(b.y1)), (round(b.x2) - 1, round(b.y2) - 1)
        cv2.rectangle(canvas, top_left, bottom_right, BOX_BGR, thickness)
        text = f"{face.emotion} {max(face.smoothed, default=0.0):.2f}"
        origin = (top_left[0], max(12, top_left[1] - 4))
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, BOX_BGR,
                    thickness + 1, cv2.LINE_AA)
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness,
                    TEXT_BGR, 1, cv2.LINE_AA)
    return canvas


def sidecar_json(result: FrameResult, frame: Frame, model_view: FaceCrops, key: str,
                 images: Sequence[tuple[str, bytes]]) -> bytes:
    """The sample's JSON sidecar: what was seen, what the model said, which files hold it."""
    names = {suffix: key + suffix for suffix, _ in images}
    faces = []
    for i, face in enumerate(result.faces):
        crop = model_view.crop_region(face.box, frame.width, frame.height)
        faces.append({
            "image": names.get(face_suffix(i)),
            "track_id": face.track_id,
            "box": {"x1": face.box.x1, "y1": face.box.y1, "x2": face.box.x2, "y2": face.box.y2},
            "crop": dict(zip(("x1", "y1", "x2", "y2"), crop, strict=True)),
            "score": round(face.score, 5),
            "emotion": face.emotion,
            "raw": dict(zip(result.labels, (round(p, 6) for p in face.raw), strict=True)),
            "smoothed": dict(zip(result.labels, (round(p, 6) for p in face.smoothed),
                                 strict=True)),
        })
    captured = datetime.fromtimestamp(result.timestamp, timezone.utc)
    document = {
        "schema": SIDECAR_SCHEMA,
        "camera": result.camera,
        "time": captured.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "epoch": result.timestamp,
        "frame_index": result.frame_index,
        "width": result.width,
        "height": result.height,
        "camera_emotion": result.camera_emotion,
        "labels": list(result.labels),
        "model": model_view.model_facts(),
        "frame_image": names.get(FRAME_SUFFIX),
        "faces": faces,
    }
    return (json.dumps(document, indent=1) + "\n").encode()

