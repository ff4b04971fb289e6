"""Per-camera tracking: track ids, smoothed probabilities and stable emotions for one camera."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_daemon.config.tracking import TrackingConfig
from edge_daemon.core.records import Detection, FaceResult
from edge_daemon.tracking.smoothing import ExponentialSmoother, Hysteresis
from edge_daemon.tracking.tracker import IouTracker


@dataclass
class _TrackState:
    smoother: ExponentialSmoother
    emotion: Hysteresis


class CameraTracker:
    """Turns one camera's detections and probabilities into tracked faces and a camera emotion.

    Per face: the track id (IoU tracker), the raw and the smoothed probabilities, and the
    face's dominant emotion (hysteresis over its smoothed argmax; a new track starts at its
    first argmax, since it has nothing to flap from).

    Per camera: the stable dominant emotion, a hysteresis over the primary (largest) face's
    smoothed argmax. It starts as None ("no face"); a label must lead `hysteresis_frames`
    results to become it, also after None. After `clear_after` consecutive frames without any
    face it returns to None at once, so a detector missing a face for a frame or two does not
    clear it.
    """

    def __init__(self, labels: Sequence[str], config: TrackingConfig | None = None) -> None:
        if not labels:
            raise ValueError("CameraTracker needs at least one label")
        self.labels = tuple(labels)
        self.config = config or TrackingConfig()
        self.tracker = IouTracker(self.config.iou_threshold, self.config.max_missed)
        self._tracks: dict[int, _TrackState] = {}
        self._camera = Hysteresis(self.config.hysteresis_frames, self.config.min_score)
        self._frames_without_face = 0

    @property
    def emotion(self) -> str | None:
        """The camera's current stable dominant emotion (None: no face)."""
        return self._camera.value

    def update(
        self, detections: Sequence[Detection], probabilities: np.ndarray
    ) -> tuple[tuple[FaceResult, ...], str | None]:
        """Fold one frame in; return its faces (in detection order) and the camera emotion."""
        probabilities = np.asarray(probabilities)
        if probabilities.shape != (len(detections), len(self.labels)):
            raise ValueError(
                f"probabilities have shape {probabilities.shape}, expected "
                f"({len(detections)}, {len(self.labels)}) for {len(detections)} faces and "
                f"{len(self.labels)} labels"
            )
        ids = self.tracker.update([d.box for d in detections])
        faces = tuple(
            self._face(track_id, det, probs)
            for track_id, det, probs in zip(ids, detections, probabilities, strict=True)
        )
        self._forget_ended_tracks()
        return faces, self._update_camera(faces)

    def _face(self, track_id: int, det: Detection, probs: np.ndarray) -> FaceResult:
        raw = tuple(float(p) for p in probs)
        if not np.isfinite(probs).all():
            # NaN or inf says nothing about the face: no emotion, and the smoothing and the
            # hysteresis keep what they knew (one NaN would poison the average for good).
            return FaceResult(track_id, det.box, float(det.score), raw,
                              (math.nan,) * len(raw), None)
        state = self._tracks.get(track_id)
        if state is None:
            state = _TrackState(
                ExponentialSmoother(self.config.smoothing_alpha),
                Hysteresis(self.config.hysteresis_frames, self.config.min_score),
            )
            self._tracks[track_id] = state
        smoothed = state.smoother.update(probs)
        top = int(np.argmax(smoothed))
        if state.emotion.value is None:
            state.emotion.reset(self.labels[top])
        emotion = state.emotion.update(self.labels[top], float(smoothed[top]))
        return FaceResult(
            track_id=track_id,
            box=det.box,
            score=float(det.score),
            raw=raw,
            smoothed=tuple(float(p) for p in smoothed),
            emotion=emotion or self.labels[top],
        )

    def _forget_ended_tracks(self) -> None:
        active = self.tracker.active_ids
        for track_id in [t for t in self._tracks if t not in active]:
            del self._tracks[track_id]

    def _update_camera(self, faces: tuple[FaceResult, ...]) -> str | None:
        if not faces:
            self._frames_without_face += 1
            if self._frames_without_face >= self.config.clear_after:
                self._camera.reset(None)
            return self._camera.value
        self._frames_without_face = 0
        primary = max(faces, key=lambda f: f.box.area)
        if primary.emotion is None:
            return self._camera.value  # nothing learned from this frame
        top = int(np.argmax(primary.smoothed))
        return self._camera.update(self.labels[top], primary.smoothed[top])
