"""One wrapper around an onnxruntime session, shared by the detectors and the classifier.

Hardware choices (threads, execution providers, graph optimization, spinning) live here so
that the model classes deal only with what their model means.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_daemon.config.runtime import RuntimeConfig

log = logging.getLogger(__name__)

GRAPH_OPTIMIZATION = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class ModelLoadError(RuntimeError):
    """A model file is missing, unreadable, or not a usable ONNX model."""


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run a model: threads, providers in order of preference, optimization level."""

    intra_op_threads: int = 1
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    graph_optimization: str = "all"
    # Spinning keeps a core busy between calls; at one call every 100 ms it only burns power.
    allow_spinning: bool = False
    # onnxruntime's CPU memory arena. Measured (ort 1.32, 2-core EPYC, 1 thread): it makes
    # the mini-Xception ~17 % faster when the face count varies per call (1-4), and costs
    # the 57 MB int8 seed model ~40 MB of peak memory at the same speed (app.py turns it off
    # for large emotion models).
    cpu_memory_arena: bool = True

    @classmethod
    def from_config(cls, runtime: RuntimeConfig) -> RuntimeOptions:
        """The options of the config's `runtime` section."""
        return cls(intra_op_threads=runtime.threads, providers=runtime.providers,
                   graph_optimization=runtime.graph_optimization)


class OnnxModel:
    """An onnxruntime session with its single input introspected once."""

    def __init__(self, path: str | Path, options: RuntimeOptions | None = None,
                 dimensions: dict[str, int] | None = None) -> None:
        """dimensions: sizes for the model's named free input dimensions (fixed per session,
        so onnxruntime plans the graph for them)."""
        options = options or RuntimeOptions()
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelLoadError(f"{self.path}: no such model file")
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = options.intra_op_threads
        session_options.inter_op_num_threads = 1
        session_options.graph_optimization_level = GRAPH_OPTIMIZATION[options.graph_optimization]
        session_options.log_severity_level = 3
        session_options.enable_cpu_mem_arena = options.cpu_memory_arena
        for name, size in (dimensions or {}).items():
            session_options.add_free_dimension_override_by_name(name, size)
        spin = "1" if options.allow_spinning else "0"
        session_options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        available = set(ort.get_available_providers())
        providers = [p for p in options.providers if p in available]
        skipped = [p for p in options.providers if p not in available]
        if skipped:
            log.info("%s: providers not available here, skipped: %s",
                     self.path.name, ", ".join(skipped))
        if not providers:
            providers = ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=session_options, providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            text = str(exc).strip()
            first_line = text.splitlines()[0] if text else type(exc).__name__
            raise ModelLoadError(f"{self.path}: not a usable ONNX model ({first_line})") from exc
        model_input = self.session.get_inputs()[0]
        self.input_name: str = model_input.name
        self.input_shape: tuple = tuple(model_input.shape)
        self.output_names: list[str] = [o.name for o in self.session.get_outputs()]
        self.providers: list[str] = self.session.get_providers()
        self.metadata_props: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run the model on one input tensor and return all outputs."""
        return self.session.run(self.output_names, {self.input_name: batch})
