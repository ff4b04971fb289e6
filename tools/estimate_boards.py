"""Estimate the bundled models' single-core latency on a Raspberry Pi 4, a Pi 5 and a Jetson
Orin Nano's CPU, from what can be measured here. Prints a table; nothing is written.

    .venv/bin/python tools/estimate_boards.py

How (docs/install.md#arm64-checked-by-emulation): emulation says which kernels run, not how
fast. So the estimate is the model's multiply-accumulates (counted from its ONNX graph at the
size the daemon runs it) over a board's single-core fp32 peak, times the share of that peak
the model reaches on this machine's core (measured now: min of 3 x 200 single-thread runs),
taken as a range, since NEON kernels and memory are not this CPU's. This core's peak is
measured too, as onnxruntime's own single-thread matrix product (a large one keeps the FMA
units busy), not assumed from the CPU's name: vector width and clock vary among the x86
machines this runs on (a Xeon's two 512-bit FMA ports, an EPYC Zen 4's 256-bit ones). On a
board, that matrix product is assumed to reach 90 % of the cores' fused multiply-add peak,
as it does here: these are estimates, not measurements.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper, shape_inference

from edge_daemon.config.classifier import ClassifierConfig
from edge_daemon.inference.detectors.blazeface import default_model_path

# Board: (core, GHz, fp32 multiply-accumulates per cycle per core: 128-bit NEON FMA pipes x 4).
BOARDS = {
    "Raspberry Pi 4": ("Cortex-A72", 1.8, 4),   # one 128-bit FMA per cycle
    "Raspberry Pi 5": ("Cortex-A76", 2.4, 8),   # two 128-bit FMA pipes
    "Jetson Orin Nano (CPU)": ("Cortex-A78AE", 1.5, 8),  # two 128-bit FMA pipes
}
GEMM_SIZE = 512  # square MatMul for this core's peak: large enough to run at full speed
# onnxruntime's MatMul reaches about 90 % of an x86 core's FMA peak (54-55 GMAC/s on an EPYC
# Zen 4 core: 16 per cycle at up to 3.7 GHz); its NEON kernels are assumed to do as well.
BOARD_GEMM_EFFICIENCY = 0.9


def count_macs(path: Path, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of the graph's convolutions and matrix products at this input."""
    model = onnx.load(str(path))
    for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim, shape, strict=True):
        if dim.dim_param or not dim.dim_value:
            dim.ClearField("dim_param")
            dim.dim_value = size
    model = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.output]}
    weights = {i.name: numpy_helper.to_array(i).shape for i in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        out = shapes.get(node.output[0])
        if not out or 0 in out:
            continue
        if node.op_type in ("Conv", "QLinearConv"):
            weight = weights.get(node.input[3 if node.op_type == "QLinearConv" else 1])
            if weight is not None:
                total += int(np.prod(out)) * int(np.prod(weight[1:]))
        elif node.op_type in ("MatMul", "Gemm") and node.input[1] in weights:
            total += int(np.prod(out)) * weights[node.input[1]][0]
    return total


def single_thread_session(model: Path | bytes) -> ort.InferenceSession:
    """An onnxruntime CPU session on one thread, as one core of a board would run it."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def best_times_ms(session: ort.InferenceSession, feeds: dict[str, np.ndarray],
                  runs: int = 200) -> list[float]:
    """The best of `runs` runs, three times over (the best resists a loaded machine)."""
    for _ in range(20):
        session.run(None, feeds)
    result = []
    for _ in range(3):
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            session.run(None, feeds)
            best = min(best, time.perf_counter() - start)
        result.append(best * 1000)
    return result


def min_latency_ms(path: Path, shape: tuple[int, ...]) -> list[float]:
    """Single-thread latency of a model on random input of this shape, three times."""
    session = single_thread_session(path)
    model_input = session.get_inputs()[0]
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, shape, dtype=np.uint8) if "uint8" in model_input.type
         else rng.random(shape, np.float32))
    return best_times_ms(session, {model_input.name: x})


def host_peak_macs() -> float:
    """This core's fp32 multiply-accumulates per second in onnxruntime's own MatMul."""
    n = GEMM_SIZE
    spec = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "abc"]
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                              spec[:2], spec[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # any onnxruntime of the last years reads it
    rng = np.random.default_rng(0)
    feeds = {name: rng.random((n, n), np.float32) for name in "ab"}
    best_ms = min(best_times_ms(single_thread_session(model.SerializeToString()), feeds, 30))
    return n**3 / (best_ms / 1000)


def main() -> None:
    """Measure here, then print the estimates."""
    models = [("emotion classifier, one face", ClassifierConfig().model_path(), (1, 1, 64, 64)),
              ("BlazeFace short, 320x192 search", default_model_path("short"), (1, 192, 320, 3)),
              ("BlazeFace short, 64x64 re-find", default_model_path("short"), (1, 64, 64, 3)),
              ("BlazeFace full, 192x192", default_model_path("full"), (1, 192, 192, 3))]
    host_peak = host_peak_macs()
    print(f"host: onnxruntime {ort.__version__}, one core's peak {host_peak / 1e9:.1f} GMAC/s "
          f"(a {GEMM_SIZE}x{GEMM_SIZE} MatMul)")
    header = "model | MMAC | host ms (3 runs) | share of MatMul | " + " | ".join(BOARDS)
    print(header)
    for label, path, shape in models:
        macs = count_macs(path, shape)
        runs = min_latency_ms(path, shape)
        share = macs / (min(runs) / 1000) / host_peak
        # The range: from this share (as efficient as here) down to 60 % of it.
        cells = []
        for _core, ghz, per_cycle in BOARDS.values():
            peak = per_cycle * ghz * 1e9 * BOARD_GEMM_EFFICIENCY
            fast, slow = macs / (peak * share), macs / (peak * share * 0.6)
            cells.append(f"{fast * 1000:.1f}-{slow * 1000:.1f} ms")
        print(f"{label} | {macs / 1e6:.1f} | {', '.join(f'{r:.2f}' for r in runs)} | "
              f"{share:.0%} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
