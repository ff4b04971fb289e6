"""The export: state_dict -> fp32 ONNX -> candidates -> measured choice -> model + report.

Nothing is written beside the output until the end: the chosen model and its report go to
temporary files in the output's folder and are renamed into place only when all went well.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from edge_models.archs import Arch, UnknownArchError, get_arch
from edge_models.checkpoint import check_fit, load_state_dict
from edge_models.digest import sha256_of
from edge_models.errors import ExportError
from edge_models.onnx_io import export_fp32, write_metadata
from edge_models.progress import Ticker
from edge_models.quantize import INT8_NAME, quantize_int8
from edge_models.rss import peak_rss_mb
from torch import nn

from edge_daemon.inference.metadata import ModelMetadata
from edge_daemon.probe import cpu_name
from edge_export.choice import choose
from edge_export.faces import FaceBatch, FaceFinder, default_face_set, load_faces
from edge_export.measure import (
    compare,
    onnx_latency_ms,
    onnx_probabilities,
    torch_latency_ms,
    torch_probabilities,
)
from edge_export.report import ExportReport, VariantReport
from edge_export.request import ExportRequest, resolve_metadata, with_quantization

log = logging.getLogger(__name__)

MODES = ("none", "int8", "auto")


class FidelityGateError(ExportError):
    """The chosen variant agrees with PyTorch less often than the threshold asks."""

    def __init__(self, message: str, report: ExportReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Candidate:
    """One exported variant on disk, before measurement."""

    name: str
    quantization: str
    path: Path


def _arch(name: str) -> Arch:
    try:
        return get_arch(name)
    except UnknownArchError as exc:
        raise ExportError(str(exc)) from None


def _check_request(req: ExportRequest) -> None:
    if req.quantize not in MODES:
        raise ExportError(f"--quantize {req.quantize!r} is not one of {', '.join(MODES)}")
    if not req.out.parent.is_dir():
        raise ExportError(f"output folder {req.out.parent} does not exist")
    if not 0.0 <= req.min_agreement <= 1.0:
        raise ExportError(f"--min-agreement {req.min_agreement} is not between 0 and 1")
    if req.threads < 1:
        raise ExportError(f"--threads {req.threads} must be at least 1")


def _build_module(arch: Arch, state: dict[str, torch.Tensor], meta: ModelMetadata) -> nn.Module:
    module = arch.build(len(meta.labels), meta.channel_count)
    check_fit(module, state, arch.name)
    module.load_state_dict(state)
    return module.eval()


def _face_sets(req: ExportRequest, meta: ModelMetadata) -> tuple[FaceBatch | None, FaceBatch]:
    finder = FaceFinder()
    calibration = None
    if req.quantize != "none":
        folder = req.calibration or default_face_set("calibration")
        calibration = load_faces(folder, meta, "calibration", req.max_calibration, finder)
    holdout_dir = req.holdout or default_face_set("holdout")
    if req.calibration and req.holdout and req.calibration.resolve() == req.holdout.resolve():
        log.warning("calibration and holdout are the same folder: fidelity is not held out")
    holdout = load_faces(holdout_dir, meta, "holdout", req.max_holdout, finder)
    return calibration, holdout


def _candidates(req: ExportRequest, fp32: Path, calibration: FaceBatch | None,
                work: Path) -> list[Candidate]:
    out = []
    if req.quantize in ("none", "auto"):
        out.append(Candidate("fp32", "none", fp32))
    if req.quantize in ("int8", "auto"):
        int8 = work / "int8.onnx"
        quantize_int8(fp32, int8, calibration.tensors, work)
        out.append(Candidate("int8", INT8_NAME, int8))
    return out


def _thread_counts(req: ExportRequest) -> list[int]:
    return sorted({1, os.cpu_count() or 1, req.threads})


def _measure(req: ExportRequest, cand: Candidate, holdout: FaceBatch,
             reference: np.ndarray, meta: ModelMetadata) -> VariantReport:
    probs = onnx_probabilities(cand.path, holdout.tensors, os.cpu_count() or 1,
                               f"fidelity of {cand.name}")
    fidelity = compare(reference, probs)
    face = holdout.tensors[:1]
    latency = {str(t): onnx_latency_ms(cand.path, face, t, req.latency_seconds)
               for t in _thread_counts(req)}
    rss = None
    if req.measure_memory:
        # The RSS probe needs the metadata the daemon reads, so it runs on a tagged copy.
        tagged = cand.path.with_suffix(".tagged.onnx")
        write_metadata(cand.path, tagged, with_quantization(meta, cand.quantization))
        rss = peak_rss_mb(["--threads", str(req.threads), "onnx", str(tagged)])
    return VariantReport(
        name=cand.name, quantization=cand.quantization, file_bytes=cand.path.stat().st_size,
        fidelity=fidelity, latency_ms=latency,
        passes_gate=fidelity.top1_agreement >= req.min_agreement, peak_rss_mb=rss,
    )


def _torch_numbers(req: ExportRequest, module: nn.Module, holdout: FaceBatch,
                   meta: ModelMetadata) -> tuple[dict[str, float], float | None]:
    face = holdout.tensors[:1]
    latency = {str(t): torch_latency_ms(module, face, t, req.latency_seconds)
               for t in _thread_counts(req)}
    rss = None
    if req.measure_memory:
        rss = peak_rss_mb([
            "--threads", str(req.threads), "torch", req.arch, str(req.state_dict),
            "--classes", str(len(meta.labels)), "--channels", str(meta.channel_count),
            "--height", str(meta.input_height), "--width", str(meta.input_width),
        ])
    return latency, rss


def _machine() -> dict[str, str]:
    return {
        "cpu": cpu_name(),
        "cores": str(os.cpu_count()),
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
    }


def _publish(chosen: Path, meta: ModelMetadata, report: ExportReport, out: Path) -> None:
    """Write model and report to temporary files beside out, then rename both into place."""
    report_path = out.with_name(out.name + ".report.json")
    temps = []
    try:
        for _ in range(2):
            fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
            os.close(fd)
            temps.append(Path(name))
        write_metadata(chosen, temps[0], meta)
        report.write(temps[1])
        # mkstemp makes owner-only files; a model is an ordinary file, so honour the umask.
        umask = os.umask(0)
        os.umask(umask)
        for temp in temps:
            temp.chmod(0o666 & ~umask)
        temps[0].replace(out)
        temps[1].replace(report_path)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


class StepClock:
    """How long each step of an export took: logged as it ends, kept for the report."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as the step `name`."""
        start = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - start, 1)
        log.info("%s took %.1f s", name, self.seconds[name])


def _conversion_estimate_s(module: nn.Module) -> float:
    """Seconds torch.onnx.export takes for this network here: from its size, measured on a
    2-core x86 server (mini-Xception, 0.06 M parameters: 1 s; EfficientNetV2-M, 53 M: 11 s)."""
    millions = sum(p.numel() for p in module.parameters()) / 1e6
    return 1.0 + 0.2 * millions


def run_export(req: ExportRequest) -> ExportReport:
    """Export, measure, choose and write the model and its report; ExportError on bad input."""
    _check_request(req)
    clock = StepClock()
    arch = _arch(req.arch)
    with clock.step("loading the state_dict"):
        state = load_state_dict(req.state_dict)
        meta = resolve_metadata(arch, req, state, sha256_of(req.state_dict))
        module = _build_module(arch, state, meta)
        del state
    with clock.step("finding the faces"):
        calibration, holdout = _face_sets(req, meta)
    with tempfile.TemporaryDirectory(prefix="emotion-edge-export-") as tmp:
        work = Path(tmp)
        fp32 = work / "fp32.onnx"
        with clock.step("converting to ONNX"), Ticker("converting to ONNX",
                                                      _conversion_estimate_s(module)):
            export_fp32(module, torch.from_numpy(holdout.tensors[:1]), fp32, req.opset)
        with clock.step("quantizing"):
            candidates = _candidates(req, fp32, calibration, work)
        with clock.step("the PyTorch reference outputs"):
            reference = torch_probabilities(module, holdout.tensors, "pytorch reference outputs")
        variants = []
        for cand in candidates:
            with clock.step(f"measuring {cand.name}"):
                variants.append(_measure(req, cand, holdout, reference, meta))
        with clock.step("measuring PyTorch"):
            torch_latency, torch_rss = _torch_numbers(req, module, holdout, meta)
        chosen, reason = choose(variants, req.quantize, req.threads, req.min_agreement)
        path = next(c.path for c in candidates if c.name == chosen.name)
        # The quantizer may raise the opset; the metadata states what the file declares.
        final_meta = replace(meta, quantization=chosen.quantization, opset=_opset_of(path))
        report = ExportReport(
            model=req.out.name, arch=arch.name, source_sha256=meta.source_sha256,
            exporter_version=meta.exporter_version, opset=final_meta.opset,
            quantize_mode=req.quantize,
            min_agreement=req.min_agreement, threads_for_choice=req.threads,
            calibration=_describe(req.calibration, calibration, "calibration"),
            holdout=_describe(req.holdout, holdout, "holdout"),
            torch_latency_ms=torch_latency, torch_peak_rss_mb=torch_rss,
            variants=variants, chosen=chosen.name, reason=reason, machine=_machine(),
            steps_s=clock.seconds,
        )
        if not chosen.passes_gate and not req.force:
            raise FidelityGateError(
                f"{chosen.name} agrees with PyTorch on only {chosen.fidelity.top1_agreement:.1%}"
                f" of top-1 results (< {req.min_agreement:.1%}); nothing written"
                " (--force writes it anyway)", report)
        _publish(path, final_meta, report, req.out)
    return report


def _describe(folder: Path | None, batch: FaceBatch | None, part: str) -> dict[str, object]:
    if batch is None:
        return {"folder": None, "faces": 0, "images": 0}
    where = folder or default_face_set(part)
    return {"folder": str(where), "faces": len(batch), "images": len(set(batch.sources))}


def _opset_of(path: Path) -> int:
    model = onnx.load(str(path), load_external_data=False)
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
