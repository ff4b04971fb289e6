"""Exponential smoothing and label hysteresis."""

from __future__ import annotations

import numpy as np
import pytest

from edge_daemon.tracking.smoothing import ExponentialSmoother, Hysteresis


def test_ema_first_value_passes_then_blends():
    ema = ExponentialSmoother(alpha=0.25)
    np.testing.assert_allclose(ema.update(np.array([0.0, 1.0])), [0.0, 1.0])
    np.testing.assert_allclose(ema.update(np.array([1.0, 0.0])), [0.25, 0.75])
    np.testing.assert_allclose(ema.update(np.array([1.0, 0.0])), [0.4375, 0.5625])


def test_ema_alpha_one_is_no_smoothing_and_bad_alpha_is_refused():
    ema = ExponentialSmoother(alpha=1.0)
    ema.update(np.array([0.2, 0.8]))
    np.testing.assert_allclose(ema.update(np.array([0.9, 0.1])), [0.9, 0.1])
    for alpha in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="alpha"):
            ExponentialSmoother(alpha)


def test_hysteresis_changes_after_k_consecutive_leads():
    h = Hysteresis(k=3, initial="neutral")
    assert [h.update("happy") for _ in range(2)] == ["neutral", "neutral"]
    assert h.update("happy") == "happy"
    assert h.update("sad") == "happy"


def test_hysteresis_streak_is_broken_by_another_label_or_the_stable_one():
    h = Hysteresis(k=3, initial="neutral")
    seq = ["happy", "happy", "sad", "happy", "happy", "neutral", "happy", "happy", "happy"]
    out = [h.update(label) for label in seq]
    assert out == ["neutral"] * 8 + ["happy"]


def test_hysteresis_ignores_weak_results():
    h = Hysteresis(k=2, min_score=0.5, initial="neutral")
    assert h.update("happy", 0.9) == "neutral"
    assert h.update("happy", 0.4) == "neutral"  # too weak: breaks the streak
    assert h.update("happy", 0.9) == "neutral"
    assert h.update("happy", 0.6) == "happy"


def test_hysteresis_from_none_needs_k_too_and_k1_is_immediate():
    h = Hysteresis(k=2)
    assert h.value is None
    assert h.update("happy") is None
    assert h.update("happy") == "happy"
    assert h.update(None) == "happy"
    assert h.update(None) is None
    fast = Hysteresis(k=1, initial="sad")
    assert fast.update("happy") == "happy"
    with pytest.raises(ValueError, match="k >= 1"):
        Hysteresis(k=0)


def test_reset_sets_value_and_forgets_challenger():
    h = Hysteresis(k=2, initial="neutral")
    h.update("happy")
    h.reset("sad")
    assert h.value == "sad"
    assert h.update("happy") == "sad"  # the earlier "happy" no longer counts
