"""emotion-edge-export: a PyTorch state_dict becomes a self-describing, measured ONNX model.

The command (request, export, choice, measure, report); the networks, checkpoints and the
int8 recipe it uses live in edge_models. It may import torch; the daemon (edge_daemon)
never imports this package.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("emotion-edge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

EXPORTER_VERSION = f"emotion-edge-export {__version__}"
