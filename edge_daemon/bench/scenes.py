"""The frames every pipeline variant is timed on: a real face video and a synthetic group.

- "1 face": the video's frames, decoded once, cut to 4:3 around the centre and scaled to
  640 x 480: the issue's "640 x 480 frame with one face", with a real face in real motion
  and picture in every pixel, as a 640 x 480 camera delivers it. (Fitting the 16:9 clip
  into the frame with black bars instead leaves a quarter of it flat black, which the Haar
  cascade rejects almost for free: its time fell from about 70 to 52 ms.)
- "group": deterministic 640 x 480 frames with several different faces, composed from the
  registry's face photos (each face cut out around the default detector's box and pasted at
  a fixed place and size, shifted a few pixels per frame). Without those photos the faces
  come from the video itself, at several sizes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_daemon.core.stages import FaceDetector

CANVAS = (640, 480)  # width, height
GROUP_FRAMES = 12
# Registry photos of different people (assets dir relative), one face each.
FACE_PHOTOS = (
    "feat-test-data/0-f15-hao-ph.jpg", "feat-test-data/0-f1-su-ph.jpg",
    "feat-test-data/15-f13-anc-ph.jpg", "fer-test-data/justin.jpg",
    "face-recognition-test-data/biden.jpg",
)
# (centre x, centre y, side) of each pasted face on the canvas.
GROUP_LAYOUT = ((120, 130, 150), (330, 120, 130), (530, 140, 120), (210, 350, 120),
                (450, 350, 140))


class SceneError(ValueError):
    """A benchmark input cannot be read or holds no usable frame."""


@dataclass(frozen=True)
class Scene:
    """Frames that every variant processes, with what they show."""

    name: str
    description: str
    frames: tuple[np.ndarray, ...]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        height, width = self.frames[0].shape[:2]
        return width, height


def read_video(path: Path, limit: int) -> tuple[list[np.ndarray], list[float]]:
    """Up to limit decoded BGR frames of a video, and each read's wall time in ms."""
    if not path.is_file():
        raise SceneError(f"video {path}: no such file")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames: list[np.ndarray] = []
    times: list[float] = []
    try:
        while len(frames) < limit:
            start = time.perf_counter()
            ok, image = capture.read()
            if not ok or image is None:
                break
            times.append((time.perf_counter() - start) * 1000.0)
            frames.append(image)
    finally:
        capture.release()
    if not frames:
        raise SceneError(f"video {path}: not a video FFmpeg can read")
    return frames, times


def decode_times(path: Path, frames: int) -> list[float]:
    """Wall time in ms of each of `frames` reads (decode and colour conversion), looping."""
    times: list[float] = []
    while len(times) < frames:
        _, chunk = read_video(path, frames - len(times))
        times += chunk
    return times


def camera_framing(image: np.ndarray, size: tuple[int, int] = CANVAS) -> np.ndarray:
    """The centre of the image at the aspect ratio of size (width, height), scaled to it."""
    width, height = size
    h, w = image.shape[:2]
    crop_w, crop_h = min(w, round(h * width / height)), min(h, round(w * height / width))
    x, y = (w - crop_w) // 2, (h - crop_h) // 2
    region = image[y:y + crop_h, x:x + crop_w]
    interpolation = cv2.INTER_AREA if crop_w > width else cv2.INTER_LINEAR
    return cv2.resize(region, (width, height), interpolation=interpolation)


def one_face_scene(video: Path, frames: list[np.ndarray]) -> Scene:
    """The video's frames as a 640 x 480 camera would frame them."""
    h, w = frames[0].shape[:2]
    return Scene("1 face", f"{video.name} ({w}x{h}, {len(frames)} frames), centre cut to 4:3 "
                 f"and scaled to {CANVAS[0]}x{CANVAS[1]}",
                 tuple(camera_framing(f) for f in frames))


def camera_stand_in(video: Path, interval_ms: int, out: Path) -> Path:
    """The video as a 640 x 480 MJPEG camera set to deliver one frame per interval records it.

    The daemon runs measure the daemon, not the decoding of a 30 fps H.264 file: a V4L2
    camera hands over frames without decoding any it is not asked for, and cameras are best
    set to the rate the daemon looks at (as Frigate advises for its detect fps). USB webcams
    deliver MJPEG, so each frame here costs one JPEG decode, as it would from such a camera.
    """
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    frames, _ = read_video(video, 10_000)
    step = max(1, round((fps if fps > 0 else 30.0) * interval_ms / 1000.0))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), 1000.0 / interval_ms,
                             CANVAS)
    if not writer.isOpened():
        raise SceneError(f"cannot write an MJPEG stand-in camera to {out}")
    try:
        for frame in frames[::step]:
            writer.write(camera_framing(frame))
    finally:
        writer.release()
    return out


def face_patch(image: np.ndarray, detector: FaceDetector) -> np.ndarray | None:
    """A square cut around the largest face the detector finds (1.6 x its box), or None."""
    found = detector.detect(image)
    if not found:
        return None
    box = max(found, key=lambda d: d.box.area).box
    side = 1.6 * max(box.width, box.height)
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    h, w = image.shape[:2]
    x1, y1 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    x2, y2 = min(w, round(cx + side / 2)), min(h, round(cy + side / 2))
    return image[y1:y2, x1:x2]


def _background(seed: int = 7) -> np.ndarray:
    width, height = CANVAS
    ramp = np.linspace(60, 160, width, dtype=np.float32)[None, :, None]
    noise = np.random.default_rng(seed).normal(0, 6, (height, width, 3)).astype(np.float32)
    return np.clip(ramp + noise, 0, 255).astype(np.uint8)


def group_scene(assets: Path, detector: FaceDetector, fallback: list[np.ndarray]) -> Scene:
    """Several faces pasted on a textured 640 x 480 canvas, shifting a little per frame."""
    patches, origin = [], "registry face photos"
    for name in FACE_PHOTOS:
        image = cv2.imread(str(assets / name), cv2.IMREAD_COLOR)
        patch = face_patch(image, detector) if image is not None else None
        if patch is not None:
            patches.append(patch)
    if len(patches) < 2:
        patch = face_patch(fallback[0], detector)
        if patch is None:
            raise SceneError("no face found in the registry photos nor in the video")
        patches, origin = [patch] * len(GROUP_LAYOUT), "the video's face"
    layout = GROUP_LAYOUT[:max(len(patches), 2)]
    background = _background()
    frames = []
    for index in range(GROUP_FRAMES):
        frame = background.copy()
        for k, (cx, cy, side) in enumerate(layout):
            dx, dy = (index * 3 + k) % 9 - 4, (index * 2 + 2 * k) % 7 - 3
            face = cv2.resize(patches[k % len(patches)], (side, side),
                              interpolation=cv2.INTER_AREA)
            x, y = cx - side // 2 + dx, cy - side // 2 + dy
            frame[y:y + side, x:x + side] = face
        frames.append(frame)
    return Scene(f"{len(layout)} faces", f"{len(layout)} faces from {origin} on a synthetic "
                 f"{CANVAS[0]}x{CANVAS[1]} canvas, {GROUP_FRAMES} frames", tuple(frames))
