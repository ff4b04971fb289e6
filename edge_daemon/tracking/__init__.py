"""Face tracking across frames, probability smoothing and label hysteresis."""

from edge_daemon.tracking.camera import CameraTracker
from edge_daemon.tracking.smoothing import ExponentialSmoother, Hysteresis
from edge_daemon.tracking.tracker import IouTracker, Track

__all__ = ["CameraTracker", "ExponentialSmoother", "Hysteresis", "IouTracker", "Track"]
