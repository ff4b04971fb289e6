"""Temporal smoothing of per-face probabilities and hysteresis of the dominant label.

Single-frame emotion predictions jitter: a face that is plainly happy may read "neutral" for
one frame. An exponential moving average calms the probabilities, and hysteresis keeps the
reported label from flapping (as Frigate does for its classifications), so automations that
trigger on a change only fire on a real one.
"""

from __future__ import annotations

import numpy as np


class ExponentialSmoother:
    """Exponential moving average of a probability vector: s = alpha * new + (1 - alpha) * s."""

    def __init__(self, alpha: float) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"smoothing alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.value: np.ndarray | None = None

    def update(self, raw: np.ndarray) -> np.ndarray:
        """Fold one raw vector in and return the smoothed one (the first value passes as is)."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.value is None or self.value.shape != raw.shape:
            self.value = raw.copy()
        else:
            self.value = self.alpha * raw + (1.0 - self.alpha) * self.value
        return self.value


class Hysteresis:
    """A stable label that changes only after another label has led k consecutive results.

    Results whose score is below `min_score` do not count: they break the streak of a
    challenger and leave the stable label as it is. `None` is a label like the others, so a
    stable value can go back to `None` by the same rule; `reset` sets it directly.
    """

    def __init__(self, k: int, min_score: float = 0.0, initial: str | None = None) -> None:
        if k < 1:
            raise ValueError(f"hysteresis needs k >= 1 consecutive results, got {k}")
        self.k = k
        self.min_score = min_score
        self.value = initial
        self._candidate: str | None = None
        self._streak = 0

    def update(self, label: str | None, score: float = 1.0) -> str | None:
        """Count one result (the leading label and its score); return the stable label."""
        if label is not None and score < self.min_score:
            self._streak = 0
            return self.value
        if label == self.value:
            self._streak = 0
            return self.value
        if self._streak and label == self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = label, 1
        if self._streak >= self.k:
            self.value = label
            self._streak = 0
        return self.value

    def reset(self, value: str | None = None) -> None:
        """Set the stable label directly and forget any challenger."""
        self.value = value
        self._streak = 0
