"""Which measured variant to keep, and a sentence saying why."""

from __future__ import annotations

from edge_models.errors import ExportError

from edge_export.report import VariantReport


def _speed(v: VariantReport, threads: str) -> str:
    return f"{v.latency_ms[threads]:.2f} ms/face"


def choose(variants: list[VariantReport], mode: str, threads: int,
           min_agreement: float) -> tuple[VariantReport, str]:
    """The variant to write and the reason, given the measurements and the gate."""
    if not variants:
        raise ExportError("no variant was built")
    key = str(threads)
    gate = f"top-1 agreement >= {min_agreement:.1%}"
    if mode != "auto":
        only = variants[0]
        verdict = "passes" if only.passes_gate else "FAILS"
        return only, (f"--quantize {mode} asked for {only.name}; it {verdict} the gate ({gate}:"
                      f" {only.fidelity.top1_agreement:.1%}) at {_speed(only, key)}"
                      f" with {threads} thread(s)")
    passing = [v for v in variants if v.passes_gate]
    if not passing:
        best = max(variants, key=lambda v: v.fidelity.top1_agreement)
        return best, (f"no variant passes the gate ({gate}); {best.name} agrees most"
                      f" ({best.fidelity.top1_agreement:.1%})")
    chosen = min(passing, key=lambda v: v.latency_ms[key])
    others = []
    for v in variants:
        if v is chosen:
            continue
        if not v.passes_gate:
            others.append(f"{v.name} fails the gate ({v.fidelity.top1_agreement:.1%})")
        else:
            others.append(f"{v.name} is slower ({_speed(v, key)})")
    return chosen, (f"auto: {chosen.name} is the fastest variant at {threads} thread(s) that"
                    f" passes the gate ({gate}: {chosen.fidelity.top1_agreement:.1%}),"
                    f" {_speed(chosen, key)}; " + "; ".join(others))
