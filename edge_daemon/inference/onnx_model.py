"""One wrapper around an onnxruntime session, shared by the detectors and the classifier.

Hardware choices (threads, execution providers, graph optimization, spinning) live here so
that the model classes deal only with what their model means.
"""

from __future__ import annotations

import json
import logging
import tempfile
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


_reported: set[str] = set()


def _report_once(line: str) -> None:
    # Every model of the daemon would say the same: once per process is enough.
    if line not in _reported:
        _reported.add(line)
        log.warning("%s", line)


def usable_providers(wanted: tuple[str, ...]) -> list[str]:
    """The wanted providers this onnxruntime has, in order; the CPU when none.

    A provider it lacks (CUDA in the CPU wheel) is skipped with one warning that names what
    it runs on instead: the config stays valid on every board.
    """
    available = ort.get_available_providers()
    usable = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
    missing = [p for p in wanted if p not in available]
    if missing:
        _report_once(f"execution provider {', '.join(missing)} not in this onnxruntime "
                     f"{ort.__version__} (it has {', '.join(available)}): falling back to "
                     f"{usable[0]}")
    return usable


def start_session(path: str | Path, session_options: ort.SessionOptions,
                  wanted: tuple[str, ...]) -> ort.InferenceSession:
    """An onnxruntime session on the first wanted provider that works, saying so if that
    is not the first one this onnxruntime has."""
    providers = usable_providers(wanted)
    session = ort.InferenceSession(str(path), sess_options=session_options,
                                   providers=providers)
    running = session.get_providers()[0]
    if running != providers[0]:
        # onnxruntime-gpu lists CUDA even where the CUDA libraries are missing; the
        # session then quietly starts on the next provider.
        _report_once(f"{providers[0]} could not be started (onnxruntime printed why above; "
                     f"for CUDA: are the CUDA and cuDNN libraries installed?): running on "
                     f"{running}")
    return session


def node_placement(path: str | Path, options: RuntimeOptions) -> dict[str, dict[str, int]]:
    """Which provider ran each node of one inference on zeros: provider -> op type -> count.

    onnxruntime says which nodes a provider took only in its profile, so the model runs once
    with profiling on (for `emotion-edge probe`; the daemon never profiles).
    """
    session_options = ort.SessionOptions()
    session_options.graph_optimization_level = GRAPH_OPTIMIZATION[options.graph_optimization]
    session_options.intra_op_num_threads = options.intra_op_threads
    session_options.log_severity_level = 3
    session_options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        session_options.profile_file_prefix = str(Path(folder) / "probe")
        session = start_session(path, session_options, options.providers)
        feeds = {}
        for model_input in session.get_inputs():
            # A free batch is one; free spatial sizes (BlazeFace's) a size it is run at.
            shape = [d if isinstance(d, int) and d > 0 else (1 if i == 0 else 128)
                     for i, d in enumerate(model_input.shape)]
            dtype = np.uint8 if "uint8" in model_input.type else np.float32
            feeds[model_input.name] = np.zeros(shape, dtype)
        session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    placement: dict[str, dict[str, int]] = {}
    for event in events:
        args = event.get("args", {})
        if event.get("cat") == "Node" and "provider" in args and event["name"].endswith(
                "_kernel_time"):
            ops = placement.setdefault(args["provider"], {})
            ops[args["op_name"]] = ops.get(args["op_name"], 0) + 1
    return placement


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
        try:
            self.session = start_session(self.path, session_options, options.providers)
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
