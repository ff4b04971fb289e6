"""Percentile summaries of timing samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def summary(samples: Sequence[float]) -> dict[str, float | int]:
    """n, mean, p50, p95, p99 and max of samples (NaN for an empty list, n = 0)."""
    if not samples:
        nan = math.nan
        return {"n": 0, "mean": nan, "p50": nan, "p95": nan, "p99": nan, "max": nan}
    values = np.asarray(samples, dtype=np.float64)
    p50, p95, p99 = np.percentile(values, (50, 95, 99))
    return {"n": int(values.size), "mean": float(values.mean()), "p50": float(p50),
            "p95": float(p95), "p99": float(p99), "max": float(values.max())}


def ratio(slow: float, fast: float) -> float:
    """slow / fast, NaN when either is missing or fast is not positive."""
    if not (math.isfinite(slow) and math.isfinite(fast)) or fast <= 0:
        return math.nan
    return slow / fast
