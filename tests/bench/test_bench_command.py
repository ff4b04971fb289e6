"""`emotion-edge bench --quick` end to end: real models, real video, real mosquitto, real
child daemon. Only the structure and sanity of its output are checked, never its timings."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_daemon.mosquitto import find_mosquitto

STAGES = {"detection", "preprocess", "classification", "tracking", "publish"}
SUMMARY = {"n", "mean", "p50", "p95", "p99", "max"}
VARIANTS = {"default", "keras"}


def positive_summary(summary: dict) -> None:
    assert set(summary) == SUMMARY
    assert summary["n"] > 0
    for key in SUMMARY - {"n"}:
        assert isinstance(summary[key], float) and math.isfinite(summary[key])
        assert summary[key] > 0
    assert summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict, Path]:
    if find_mosquitto() is None:
        pytest.fail("mosquitto not found: install the Debian package mosquitto")
    folder = tmp_path_factory.mktemp("bench")
    out, plot = folder / "out.json", folder / "latency.png"
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_FILE", "IMAGES_DIR")}
    done = subprocess.run(
        [sys.executable, "-m", "edge_daemon", "bench", "--quick", "--json", str(out),
         "--plot", str(plot)],
        capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(out.read_text()), plot


def test_quick_bench_writes_strict_json_with_every_part(quick_run):
    _, report, _ = quick_run
    assert report["schema"] == 1 and report["quick"] is True
    assert report["machine"]["cores"] >= 1 and report["machine"]["onnxruntime"]
    assert {s["name"] for s in report["scenes"]} >= {"1 face"}
    for scene in report["scenes"]:
        assert (scene["width"], scene["height"]) == (640, 480) and scene["frames"] > 0
    positive_summary(report["decode_ms"])
    assert report["settings"]["threads"][0] == 1


def test_every_variant_has_positive_finite_stage_timings(quick_run):
    _, report, _ = quick_run
    measured = {r["variant"] for r in report["stages"]}
    skipped = {s["variant"] for s in report["skipped"]}
    assert measured >= VARIANTS
    assert {"int8", "torch"} <= measured | skipped  # each either measured or skipped
    for record in report["stages"]:
        assert set(record["stages"]) == STAGES
        for summary in (*record["stages"].values(), record["processing"], record["total"]):
            positive_summary(summary)
        assert record["processing"]["p50"] <= record["total"]["p50"]
        assert record["frames"] >= 3
    one_face = [r for r in report["stages"] if r["scene"] == "1 face"]
    assert all(r["faces_per_frame"] >= 0.5 for r in one_face)  # the video shows a face


def test_flat_out_daemon_and_targets_are_reported(quick_run):
    _, report, _ = quick_run
    assert {(f["variant"], f["threads"]) for f in report["flat_out"]} >= {("default", 1)}
    assert all(f["fps"] > 0 and f["frames"] > 0 for f in report["flat_out"])
    daemon = report["daemon"][0]
    assert daemon["label"] == "default config" and daemon["interval_ms"] == 100
    assert 0 < daemon["cpu_percent"] < 200 and 20 < daemon["rss_mb_max"] < 2000
    assert daemon["results_received"] > 0
    # Where the CPU went, by the daemon's thread names; the shares add up to the total, up
    # to the kernel's accounting tick on each thread's count over the short quick window.
    shares = daemon["cpu_percent_by_thread"]
    assert {"loop-bench", "other"} <= set(shares) and shares["loop-bench"] > 0
    assert all(share >= 0 for share in shares.values())
    tick_percent = 100.0 / os.sysconf("SC_CLK_TCK") / daemon["window_s"]
    assert sum(shares.values()) == pytest.approx(daemon["cpu_percent"],
                                                 abs=(len(shares) + 1) * tick_percent)
    positive_summary(daemon["frame_to_mqtt_ms"])
    speedups = {c["name"] for c in report["comparisons"]}
    assert "default pipeline vs Keras original" in speedups
    assert all(c["speedup"] > 0 for c in report["comparisons"])
    targets = report["targets"]
    assert len(targets) == 6
    assert targets[0]["name"].startswith("default vs Keras original")  # a ratio, not ms
    for target in targets[:4]:  # the ones a quick run always measures
        assert target["met"] in (True, False) and target["value"] > 0


def test_the_table_names_the_targets_and_the_variants(quick_run):
    done, _, _ = quick_run
    assert "Targets (issues 7 and 11):" in done.stdout
    for variant in VARIANTS:
        assert f" {variant} " in done.stdout


def test_the_plot_is_a_png_of_the_distributions(quick_run):
    import cv2

    _, _, plot = quick_run
    image = cv2.imread(str(plot))
    assert image is not None, "the plot is not a readable image"
    assert image.shape[:2] == (800, 1400)  # 14 x 8 inches at 100 dpi
    assert image.std() > 10  # drawn on, not a blank canvas


def test_the_daemon_package_never_imports_torch():
    code = ("import sys, edge_daemon.cli, edge_daemon.bench.command, edge_daemon.app; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_missing_video_is_one_clear_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "edge_daemon", "bench", "--quick", "--no-daemon", "--video",
         str(tmp_path / "absent.mp4")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == f"emotion-edge bench: video {tmp_path / 'absent.mp4'}: no such file"
