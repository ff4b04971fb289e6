"""The fidelity report: one record per variant, the choice and its reason; table and JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge_export.measure import Fidelity


@dataclass
class VariantReport:
    """One exported candidate: what it is, how faithful, how big, how fast."""

    name: str  # "fp32" or "int8"
    quantization: str
    file_bytes: int
    fidelity: Fidelity
    latency_ms: dict[str, float]  # per face, keyed by intra-op thread count
    passes_gate: bool
    peak_rss_mb: float | None = None


@dataclass
class ExportReport:
    """Everything the export measured, as written beside the model."""

    model: str
    arch: str
    source_sha256: str
    exporter_version: str
    opset: int
    quantize_mode: str
    min_agreement: float
    threads_for_choice: int
    calibration: dict[str, object]
    holdout: dict[str, object]
    torch_latency_ms: dict[str, float]
    torch_peak_rss_mb: float | None
    variants: list[VariantReport]
    chosen: str
    reason: str
    machine: dict[str, str] = field(default_factory=dict)
    steps_s: dict[str, float] = field(default_factory=dict)  # where the time went, in order

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(asdict(self), indent=2) + "\n"

    def write(self, path: Path) -> None:
        """Write the JSON report to path."""
        path.write_text(self.to_json())

    def table(self) -> str:
        """A plain-text table of the variants and PyTorch, then the choice."""
        threads = sorted(self.torch_latency_ms, key=int)
        lat_heads = [f"ms@{t}thr" for t in threads]
        heads = ["variant", "top-1 agree", "max |dp|", "mean |dp|", "size MB", *lat_heads,
                 "peak RSS MB"]
        rows = [[
            "pytorch fp32", "(reference)", "", "", "",
            *(f"{self.torch_latency_ms[t]:.2f}" for t in threads), _mb(self.torch_peak_rss_mb),
        ]]
        for v in self.variants:
            rows.append([
                v.name + (" *" if v.name == self.chosen else ""),
                f"{v.fidelity.top1_agreement:.2%}",
                f"{v.fidelity.max_abs_diff:.4f}",
                f"{v.fidelity.mean_abs_diff:.5f}",
                f"{v.file_bytes / 1e6:.2f}",
                *(f"{v.latency_ms.get(t, float('nan')):.2f}" for t in threads),
                _mb(v.peak_rss_mb),
            ])
        widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in [heads, *rows]]
        faces = self.holdout.get("faces")
        lines.append(f"(fidelity on {faces} held-out faces; * = chosen) {self.reason}")
        return "\n".join(lines)


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"
