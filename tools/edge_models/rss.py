"""Peak memory of a fresh process that loads a model and classifies faces with it.

Run as `python -m edge_models.rss onnx MODEL` (only onnxruntime and the daemon's classifier,
exactly what the daemon loads) or `python -m edge_models.rss torch ARCH STATE_DICT ...`
(PyTorch eager, as the seed runs). Prints one JSON line with the peak resident set size.
The export tool calls it in a subprocess so that its own memory does not count.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

RUNS = 3


def _run_onnx(args: argparse.Namespace) -> None:
    from edge_daemon.inference.classifier import EmotionClassifier
    from edge_daemon.inference.onnx_model import RuntimeOptions

    classifier = EmotionClassifier(args.model, RuntimeOptions(intra_op_threads=args.threads))
    m = classifier.meta
    chw = (m.channel_count, m.input_height, m.input_width)
    shape = (1, *chw) if m.layout == "NCHW" else (1, *chw[1:], chw[0])
    face = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(RUNS):
        classifier.classify_batch(face)


def _run_torch(args: argparse.Namespace) -> None:
    import torch

    from edge_models.archs import get_arch
    from edge_models.checkpoint import load_state_dict

    torch.set_num_threads(args.threads)
    state = load_state_dict(args.state_dict)
    module = get_arch(args.arch).build(args.classes, args.channels)
    module.load_state_dict(state)
    module.eval()
    face = torch.randn(1, args.channels, args.height, args.width)
    with torch.inference_mode():
        for _ in range(RUNS):
            module(face)


def main(argv: list[str] | None = None) -> int:
    """Run one model a few times and print {"peak_rss_mb": ...}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    sub = parser.add_subparsers(dest="kind", required=True)
    onnx_cmd = sub.add_parser("onnx")
    onnx_cmd.add_argument("model", type=Path)
    torch_cmd = sub.add_parser("torch")
    torch_cmd.add_argument("arch")
    torch_cmd.add_argument("state_dict", type=Path)
    for name in ("classes", "channels", "height", "width"):
        torch_cmd.add_argument(f"--{name}", type=int, required=True)
    args = parser.parse_args(argv)
    (_run_onnx if args.kind == "onnx" else _run_torch)(args)
    print(json.dumps({"peak_rss_mb": round(_peak_kb() / 1024, 1)}))
    return 0


def _peak_kb() -> float:
    """This process's peak RSS in kB.

    Linux's VmHWM belongs to the address space made by exec, whereas ru_maxrss carries over
    the high-water mark of the forked parent and would report the exporter's own memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def peak_rss_mb(args: list[str]) -> float | None:
    """Run this module in a fresh interpreter with args; its peak RSS in MB, None on failure."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-m", "edge_models.rss", *args],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        log.warning("peak memory probe failed (%s): %s", " ".join(args[:3]), tail[0])
        return None
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"])


if __name__ == "__main__":
    sys.exit(main())
