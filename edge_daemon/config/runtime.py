"""The `runtime` section: how onnxruntime runs the models (threads, providers, optimization)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from edge_daemon.config.base import Section

# Short names users type, and the providers onnxruntime calls them. A full name ending in
# "ExecutionProvider" is accepted as is, so a provider newer than this table still works.
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "acl": "ACLExecutionProvider",
    "armnn": "ArmNNExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
}


class RuntimeConfig(Section):
    """onnxruntime settings shared by the detector and the classifier."""

    threads: Annotated[int, Field(ge=0, le=256)] = 1
    """Threads per model for one inference (intra-op); 0 lets onnxruntime use every core.
    One thread is the fastest per watt for the small default models."""
    providers: Annotated[tuple[str, ...], Field(min_length=1)] = ("CPUExecutionProvider",)
    """Execution providers in order of preference, e.g. [tensorrt, cuda, cpu] on a Jetson.
    Short names (cpu, cuda, tensorrt, openvino, xnnpack, ...) or onnxruntime's full names;
    providers missing on the device are skipped with a log line."""
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    """onnxruntime graph optimization level."""

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = []
        for item in value:
            full = PROVIDER_ALIASES.get(item.lower(), item)
            if not full.endswith("ExecutionProvider"):
                known = ", ".join(PROVIDER_ALIASES)
                raise ValueError(f"unknown execution provider {item!r} (known: {known})")
            names.append(full)
        if len(set(names)) != len(names):
            raise ValueError("a provider is listed twice")
        return tuple(names)
