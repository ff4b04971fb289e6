"""The `classifier` section: which exported emotion model runs on the faces."""

from __future__ import annotations

from pathlib import Path

from edge_daemon.config.base import Section
from edge_daemon.core.package_data import package_dir

# The bundled default, in the package's models folder (resolved when asked for, so that the
# JSON Schema and error messages stay the same on every machine).
BUNDLED_MODEL = "emotion_mini_xception.onnx"


class ClassifierConfig(Section):
    """The emotion model: any ONNX file made by emotion-edge-export."""

    model: Path | None = None
    """Path of the exported ONNX model; unset means the bundled mini-Xception (FER2013, 7
    labels). The environment variable MODEL_FILE overrides it, as in the seed."""

    def model_path(self) -> Path:
        """The configured model, or the bundled default inside the installed package."""
        if self.model is not None:
            return self.model
        return package_dir("models") / BUNDLED_MODEL
