"""Sampled images of what the model saw (the seed's IMAGES_DIR): off unless configured.

Modules: sink (sampling and the saver thread), sample (crops, boxed frame, JSON sidecar),
store (atomic files and retention).
"""

from edge_daemon.sinks.snapshots.sink import SnapshotSink

__all__ = ["SnapshotSink"]
