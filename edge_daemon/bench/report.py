"""The benchmark's results: ratios and targets, a text table, JSON and an optional PNG plot."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

from edge_daemon.bench.stats import ratio

ONE_FACE = "1 face"
# (name, limit, unit, how the value compares with the limit). Speeds are ratios within one
# run: these shared hosts differ by up to 2x in absolute speed (issue 11); the detector's
# own targets are in detection.py. The processing time itself is printed, not judged.
TARGETS = (
    ("default vs Keras original pipeline, same run, 1 thread, speed-up", 20.0, "x", ">="),
    ("one camera at the interval: CPU, % of one core", 5.0, "%", "<="),
    # Memory: the anonymous (private) part of the resident set. The file-backed part is
    # shared libraries as far as the kernel faulted them in, which differs between hosts for
    # the same process (110 MB of 179 here; the whole RSS was 118 MB on issue 7's host).
    ("one camera at the interval: anonymous memory, MB (largest sample)", 100.0, "MB", "<="),
    ("frame to MQTT publish, p99 ms", 10.0, "ms", "<="),
    ("seed model as exported vs PyTorch eager, per face, 1 thread, speed-up", 2.5, "x", ">="),
    ("seed model as exported: daemon anonymous memory, MB (largest sample)", 200.0, "MB",
     "<="),
)


def find_stage(report: dict, variant: str, threads: int, scene: str = ONE_FACE) -> dict | None:
    """The stage record of one variant, scene and thread count, if measured."""
    for record in report["stages"]:
        if (record["variant"], record["threads"], record["scene"]) == (variant, threads, scene):
            return record
    return None


def _p50(record: dict | None) -> float:
    return math.nan if record is None else record["processing"]["p50"]


def _per_face(record: dict | None) -> float:
    return math.nan if record is None else record["classification_per_face_ms_p50"]


def _daemon(report: dict, label: str) -> dict | None:
    return next((d for d in report["daemon"] if d["label"] == label), None)


def comparisons(report: dict) -> list[dict[str, Any]]:
    """Speed-ups between variants, each taken within this run on the same frames."""
    out = []
    for threads in report["settings"]["threads"]:
        default = find_stage(report, "default", threads)
        pairs = (
            ("keras", "default", "total", "default pipeline vs Keras original"),
            ("torch", "default", "face", "mini-Xception ONNX fp32 vs PyTorch eager, per face"),
            ("int8", "default", "face", "mini-Xception ONNX int8 vs fp32, per face (>1: int8 "
                                        "slower)"),
            ("seed-torch", "seed-onnx", "face", "seed ONNX vs PyTorch eager, per face"),
        )
        for slow_key, fast_key, kind, name in pairs:
            slow = find_stage(report, slow_key, threads)
            fast = default if fast_key == "default" else find_stage(report, fast_key, threads)
            if slow is None or fast is None:
                continue
            measure = _p50 if kind == "total" else _per_face
            if slow_key == "int8":  # how much slower the int8 model is than fp32
                slow, fast = fast, slow
            out.append({"name": name, "threads": threads, "speedup": ratio(measure(slow),
                                                                          measure(fast))})
    return out


def _target_values(report: dict) -> list[float]:
    comps = {(c["name"], c["threads"]): c["speedup"] for c in report["comparisons"]}
    default = _daemon(report, "default config")
    seed = _daemon(report, "default config, seed model")
    return [
        comps.get(("default pipeline vs Keras original", 1), math.nan),
        default["cpu_percent"] if default else math.nan,
        default.get("anon_mb_max", math.nan) if default else math.nan,
        default["frame_to_mqtt_ms"]["p99"] if default else math.nan,
        comps.get(("seed ONNX vs PyTorch eager, per face", 1), math.nan),
        seed.get("anon_mb_max", math.nan) if seed else math.nan,
    ]


def targets(report: dict) -> list[dict[str, Any]]:
    """Each target of issue 7 with its measured value and whether it is met (None: unmeasured)."""
    out = []
    for (name, limit, unit, way), value in zip(TARGETS, _target_values(report), strict=True):
        met = None if not math.isfinite(value) else (value <= limit if way == "<="
                                                      else value >= limit)
        out.append({"name": name, "limit": limit, "unit": unit, "compare": way,
                    "value": value, "met": met})
    return out


def _num(value: float, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _stage_lines(report: dict) -> list[str]:
    head = (f"{'scene':<8} {'thr':>3} {'variant':<10} {'faces':>5} {'detect':>7} {'prep':>6} "
            f"{'classify':>8} {'track':>6} | {'process p50':>11} {'p95':>7} {'p99':>7} | "
            f"{'publish':>7} {'total p50':>9} {'frames':>6}")
    lines = ["Per-frame latency in ms: stages p50; process = detect..track as one span "
             "(CameraLoop.process); total = process + publish", head, "-" * len(head)]
    for r in report["stages"]:
        s, p, t = r["stages"], r["processing"], r["total"]
        lines.append(
            f"{r['scene']:<8} {r['threads']:>3} {r['variant']:<10} "
            f"{_num(r['faces_per_frame'], 1):>5} {_num(s['detection']['p50']):>7} "
            f"{_num(s['preprocess']['p50']):>6} {_num(s['classification']['p50']):>8} "
            f"{_num(s['tracking']['p50']):>6} | {_num(p['p50']):>11} {_num(p['p95']):>7} "
            f"{_num(p['p99']):>7} | {_num(s['publish']['p50']):>7} {_num(t['p50']):>9} "
            f"{r['frames']:>6}")
    return lines


def _threads(daemon: dict) -> str:
    shares = daemon.get("cpu_percent_by_thread") or {}
    top = [f"{name} {_num(share)}" for name, share in shares.items() if share >= 0.05][:4]
    return f" ({', '.join(top)})" if top else ""


def _daemon_lines(report: dict) -> list[str]:
    lines = []
    for d in report["daemon"]:
        f = d["frame_to_mqtt_ms"]
        lines.append(
            f"  {d['label']}: CPU {_num(d['cpu_percent'])} % of one core{_threads(d)}, RSS "
            f"{_num(d['rss_mb_median'], 1)} MB (largest {_num(d['rss_mb_max'], 1)}, peak since "
            f"start {_num(d['hwm_mb'], 1)}; anonymous {_num(d.get('anon_mb_max'), 1)}, "
            f"file-backed {_num(d.get('file_mb_max'), 1)}); frame to MQTT p50 "
            f"{_num(f['p50'], 1)} / p95 {_num(f['p95'], 1)} / p99 {_num(f['p99'], 1)} ms "
            f"over {f['n']} results")
    return lines


def format_table(report: dict) -> str:
    """The whole report as text for a terminal."""
    m, st = report["machine"], report["settings"]
    lines = [f"emotion-edge bench on {m['cpu']} ({m['cores']} cores), onnxruntime "
             f"{m['onnxruntime']}, OpenCV {m['opencv']}, torch {m['torch'] or 'absent'}; "
             f"load average before: {m['load_before']}" + ("; QUICK run" if report["quick"]
                                                          else "")]
    for scene in report["scenes"]:
        lines.append(f"scene {scene['name']!r}: {scene['description']}")
    d = report["decode_ms"]
    lines += [f"decode {Path(st['video']).name} (VideoCapture.read): p50 {_num(d['p50'])} / "
              f"p95 {_num(d['p95'])} / p99 {_num(d['p99'])} ms", ""]
    lines += _stage_lines(report)
    notes = {r["variant"]: r["note"] for r in report["stages"] if r["note"]}
    lines += [f"  {variant}: {note}" for variant, note in notes.items()]
    lines += ["", "Speed-ups (same run, same frames; process p50, or classification per face):"]
    lines += [f"  {c['name']}, {c['threads']} thread(s): {_num(c['speedup'], 1)}x"
              for c in report["comparisons"]]
    lines += ["", "Flat out (file decoded flat out on its own thread, CameraLoop at interval 0,"
              " MQTT sink; default as the daemon runs it, boxes reused on settled frames):"]
    lines += [f"  {f['variant']}, {f['threads']} thread(s): {_num(f['fps'], 1)} frames/s"
              for f in report["flat_out"]]
    if report["daemon"]:
        lines += ["", f"`emotion-edge run` in a child process at {st['interval_ms']} ms, "
                  f"{_num(st['window_s'], 0)} s window; its camera: the video as a 640x480 "
                  "MJPEG camera delivering one frame per interval records it, unless said:",
                  *_daemon_lines(report)]
    for key, mb in report["model_memory"].items():
        lines.append(f"  {key} alone in a fresh process: peak {_num(mb, 1)} MB")
    lines += ["", "Targets (issues 7 and 11):"]
    for t in report["targets"]:
        state = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        lines.append(f"  [{state}] {t['name']}: {_num(t['value'])} ({t['compare']} "
                     f"{t['limit']:g})")
    for s in report["skipped"]:
        lines.append(f"skipped {s['variant']}: {s['reason']}")
    return "\n".join(lines)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def write_json(report: dict, path: Path) -> None:
    """Strict JSON (a value that could not be measured is null, never NaN)."""
    path.write_text(json.dumps(_finite_or_none(report), indent=2, allow_nan=False) + "\n")


def write_plot(report: dict, samples: dict[str, list[float]], path: Path) -> str | None:
    """A PNG of the latency distributions; the reason when it cannot be drawn, else None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed (pip install matplotlib)"
    frame_keys = [k for k in samples if not k.startswith("frame to MQTT")]
    mqtt_keys = [k for k in samples if k.startswith("frame to MQTT")]
    fig, axes = plt.subplots(1, 2, figsize=(14, 8), width_ratios=(3, 1))
    axes[0].boxplot([samples[k] for k in frame_keys], whis=(1, 99), showfliers=False)
    axes[0].set_xticks(range(1, len(frame_keys) + 1), frame_keys, rotation=60, ha="right",
                       fontsize=8)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("ms per frame (box: p25-p75, whiskers: p1-p99)")
    axes[0].set_title("Per-frame latency, 640x480 frames")
    if mqtt_keys:
        axes[1].boxplot([samples[k] for k in mqtt_keys], whis=(1, 99), showfliers=False)
        axes[1].set_xticks(range(1, len(mqtt_keys) + 1),
                           [textwrap.fill(k.removeprefix("frame to MQTT, "), 30)
                            for k in mqtt_keys],
                           rotation=60, ha="right", fontsize=8)
        axes[1].set_yscale("log")
    axes[1].set_ylabel("ms from capture to the subscriber")
    axes[1].set_title("Frame to MQTT, daemon runs")
    fig.suptitle(f"emotion-edge bench: {report['machine']['cpu']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
