"""Face tracking across frames, probability smoothing and label hysteresis."""

from .camera import CameraTracker
from .smoothing import ExponentialSmoother, Hysteresis
from .tracker import IouTracker, Track

__all__ = ["CameraTracker", "ExponentialSmoother", "Hysteresis", "IouTracker", "Track"]
