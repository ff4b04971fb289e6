"""`emotion-edge bench`: how fast, how light and how prompt the pipeline is on this machine.

1. per-stage latency of every variant (variants.py) on the same frames (scenes.py), at one
   thread and at all cores, interleaved (stages.py);
2. frames per second flat out through the daemon's own loop (flat_out.py);
3. the real daemon in a child process at the camera interval: CPU share, resident memory
   and frame-to-MQTT latency through a real broker (daemon_probe.py);
4. ratios and the issue's targets, a table, JSON and a plot (report.py).

Exit codes: 0 measured; 1 something needed could not run (one line on stderr); 2 usage.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime

from edge_daemon import __version__
from edge_daemon.bench.daemon_probe import ProbeError, ProbeResult, daemon_config, probe_daemon
from edge_daemon.bench.options import DEFAULT_VIDEO
from edge_daemon.bench.report import comparisons, format_table, targets, write_json, write_plot
from edge_daemon.bench.scenes import (
    Scene,
    SceneError,
    camera_stand_in,
    decode_times,
    group_scene,
    one_face_scene,
    read_video,
)
from edge_daemon.bench.stages import Budget, StageRecord, set_threads, time_stages
from edge_daemon.bench.stats import summary
from edge_daemon.bench.variants import (
    Models,
    build_variants,
    default_detector,
    onnx_classifier,
    skipped,
)
from edge_daemon.config.classifier import ClassifierConfig
from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.inference.classifier import EmotionClassifier
from edge_daemon.inference.crop import FacePreprocessor
from edge_daemon.inference.metadata import ModelMetadata
from edge_daemon.inference.onnx_model import ModelLoadError
from edge_daemon.mosquitto import BrokerError, LocalBroker
from edge_daemon.probe import cpu_name
from edge_daemon.sinks.mqtt.sink import MqttSink

EXIT_OK, EXIT_FAILED = 0, 1
REPO_ASSETS = Path(__file__).resolve().parents[2] / ".assets"


class BenchInputError(ValueError):
    """An option names something unusable (a missing file, a bad number)."""


@dataclass(frozen=True)
class Settings:
    """How long each part runs: full or quick."""

    seconds: float  # per variant, scene and thread count
    min_frames: int
    max_frames: int
    window_s: float  # daemon run, measured part
    warmup_s: float  # daemon run, before the window
    flat_s: float
    video_frames: int
    decode_frames: int
    calibration_faces: int


FULL = Settings(3.0, 10, 3000, 30.0, 3.0, 3.0, 300, 300, 64)
QUICK = Settings(0.1, 3, 100, 1.5, 0.5, 0.3, 30, 30, 16)


_STARTED = time.monotonic()


def _say(text: str) -> None:
    print(f"bench [{time.monotonic() - _STARTED:5.1f} s]: {text}", file=sys.stderr, flush=True)


def _settings(args: argparse.Namespace) -> Settings:
    base = QUICK if args.quick else FULL
    seconds = base.seconds if args.seconds is None else args.seconds
    window = base.window_s if args.window is None else args.window
    if seconds <= 0 or window <= 0:
        raise BenchInputError("--seconds and --window must be positive")
    if args.interval_ms < 0:
        raise BenchInputError("--interval-ms must be 0 or more")
    return Settings(seconds, base.min_frames, base.max_frames, window, base.warmup_s,
                    base.flat_s, base.video_frames, base.decode_frames,
                    base.calibration_faces)


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    assets = args.assets or Path(os.environ.get("EMOTION_EDGE_ASSETS", REPO_ASSETS))
    video = args.video or assets / DEFAULT_VIDEO
    if not video.is_file():
        hint = "" if args.video else " (give --video PATH, or fetch the assets)"
        raise BenchInputError(f"video {video}: no such file{hint}")
    for option in ("seed_model", "seed_state_dict"):
        path = getattr(args, option)
        if path is not None and not path.is_file():
            raise BenchInputError(f"--{option.replace('_', '-')} {path}: no such file")
    return assets, video


def _machine() -> dict:
    try:
        torch = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch = None
    return {"cpu": cpu_name(), "cores": os.cpu_count() or 1, "machine": platform.machine(),
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "opencv": cv2.__version__, "numpy": np.__version__, "torch": torch,
            "load_before": [round(x, 2) for x in os.getloadavg()]}


def _calibration_faces(meta: ModelMetadata, scenes: list[Scene], limit: int) -> np.ndarray:
    """Face crops from the bench's own frames, pre-processed as the daemon does."""
    detector, pre, crops = default_detector(1), FacePreprocessor(meta), []
    for scene in scenes:
        for frame in scene.frames[::3]:
            boxes = [d.box for d in detector.detect(frame)]
            if boxes:
                crops.extend(pre.batch(frame, boxes))
    return np.stack(crops[:limit]) if crops else np.zeros((0,), np.float32)


def _models(args: argparse.Namespace, settings: Settings, scenes: list[Scene],
            assets: Path, work: Path) -> Models:
    from edge_models import torch_rows

    fp32 = ClassifierConfig().model_path()
    models = Models(fp32, EmotionClassifier(fp32).meta, seed=args.seed_model)
    missing = "--no-torch given" if args.no_torch else torch_rows.torch_missing()
    if missing:
        for key in ("int8", "torch", *(("seed-torch",) if args.seed_model else ())):
            models.skipped[key] = missing
        return models
    faces = _calibration_faces(models.meta, scenes, settings.calibration_faces)
    if len(faces):
        _say("building the int8 mini-Xception with the export tool's recipe")
        models.int8 = torch_rows.build_int8(fp32, models.meta, faces,
                                            work / "mini_xception.int8.onnx")
        models.notes["int8"] = (f"quantized here, calibrated on {len(faces)} of the bench's "
                                "face crops (speed only; fidelity is the export tool's job)")
    else:
        models.skipped["int8"] = "no face found in the frames to calibrate on"
    _say("loading the PyTorch modules")
    models.mini_torch, models.notes["torch"] = torch_rows.mini_xception(models.meta, assets)
    if args.seed_model:
        seed_meta = EmotionClassifier(args.seed_model).meta
        models.seed_torch, models.notes["seed-torch"] = torch_rows.seed_network(
            seed_meta, args.seed_state_dict)
    return models


def _stage_records(models: Models, scenes: list[Scene], settings: Settings,
                   sink: MqttSink) -> list[StageRecord]:
    budget = Budget(settings.seconds, settings.min_frames, settings.max_frames)
    records = []
    for threads in sorted({1, os.cpu_count() or 1}):
        set_threads(threads)
        variants = build_variants(models, threads)
        for scene in scenes:
            _say(f"timing {len(variants)} variants on {scene.name!r} at {threads} thread(s)")
            records += time_stages(variants, scene, budget, sink)
    return records


def _flat_out(models: Models, video: Path, settings: Settings, sink: MqttSink,
              quick: bool) -> list[dict]:
    from edge_daemon.bench.flat_out import flat_out
    from edge_daemon.inference.detectors import HaarCascadeDetector

    out = []
    for threads in [1] if quick else sorted({1, os.cpu_count() or 1}):
        set_threads(threads)
        classifier = onnx_classifier(models.fp32, threads)
        default = default_detector(threads)  # as the daemon builds it for one camera
        for key, detector in (("default", default), ("keras", HaarCascadeDetector())):
            _say(f"flat out: {key} at {threads} thread(s)")
            result = flat_out(key, video, detector, classifier, [sink], threads,
                              settings.flat_s)
            out.append(result.__dict__)
    return out


def _probe_dict(result: ProbeResult) -> dict:
    data = dict(result.__dict__)
    data["frame_to_mqtt_ms"] = summary(result.frame_to_mqtt_ms)
    return data


def _daemon_runs(args: argparse.Namespace, settings: Settings, video: Path, host: str,
                 port: int, work: Path) -> tuple[list[dict], dict[str, list[float]]]:
    camera = camera_stand_in(video, args.interval_ms, work / "camera.avi")
    runs: list[tuple[str, Path, dict]] = [("default config", camera, {})]
    if not args.quick:
        runs += [
            ("whole frame searched every frame (rescan_frames 1)", camera, {"rescan": 1}),
            ("MQTT only (metrics and WebSocket off)", camera, {"minimal": True}),
            (f"default config, {video.name} itself (every frame decoded)", video, {}),
        ]
    if args.seed_model:
        runs.append(("default config, seed model", camera,
                     {"classifier_model": args.seed_model}))
    out, samples = [], {}
    for label, source, extra in runs:
        _say(f"daemon run: {label}, {args.interval_ms} ms interval, {settings.window_s:g} s")
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        config = daemon_config(source, args.interval_ms, host, port, prefix, **extra)
        window = settings.window_s if "classifier_model" not in extra else min(
            settings.window_s, 10.0)
        result = probe_daemon(label, config, settings.warmup_s, window)
        out.append(_probe_dict(result))
        samples[f"frame to MQTT, {label}"] = result.frame_to_mqtt_ms
    return out, samples


def _model_memory(args: argparse.Namespace, models: Models) -> dict[str, float | None]:
    if not args.seed_model:
        return {}
    from edge_models.rss import peak_rss_mb

    _say("peak memory of the seed model alone")
    out = {"seed-onnx": peak_rss_mb(["--threads", "1", "onnx", str(args.seed_model)])}
    if args.seed_state_dict and models.seed_torch is not None:
        meta = EmotionClassifier(args.seed_model).meta
        out["seed-torch"] = peak_rss_mb([
            "--threads", "1", "torch", "seed-efficientnet-v2-m", str(args.seed_state_dict),
            "--classes", str(len(meta.labels)), "--channels", str(meta.channel_count),
            "--height", str(meta.input_height), "--width", str(meta.input_width)])
    return out


def _sink(host: str, port: int, labels: tuple[str, ...]) -> MqttSink:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    config = MqttConfig.model_validate({"host": host, "port": port, "topic_prefix": prefix,
                                        "client_id": prefix, "homeassistant": {"enabled": False}})
    sink = MqttSink(config, [], labels)
    sink.start()
    deadline = time.monotonic() + 10
    while not sink.stats.connected:
        if time.monotonic() > deadline:
            sink.stop(1)
            raise BrokerError(f"cannot connect to the MQTT broker at {host}:{port}")
        time.sleep(0.02)
    return sink


def measure(args: argparse.Namespace, host: str, port: int, work: Path) -> tuple[dict, dict]:
    """Run every measurement; the JSON-ready report and the samples for the plot."""
    settings = _settings(args)
    assets, video = _paths(args)
    report: dict = {"schema": 1, "emotion_edge": __version__, "quick": bool(args.quick),
                    "machine": _machine()}
    if report["machine"]["load_before"][0] > 0.3:
        _say(f"the machine is busy (load {report['machine']['load_before'][0]}): expect noise")
    _say(f"decoding {video.name}")
    frames, _ = read_video(video, settings.video_frames)
    decode = decode_times(video, settings.decode_frames)
    set_threads(1)
    scenes = [one_face_scene(video, frames), group_scene(assets, default_detector(1), frames)]
    models = _models(args, settings, scenes, assets, work)
    sink = _sink(host, port, models.meta.labels)
    try:
        records = _stage_records(models, scenes, settings, sink)
        flat = _flat_out(models, video, settings, sink, args.quick)
    finally:
        sink.stop(2)
    daemon, mqtt_samples = ([], {}) if args.no_daemon else _daemon_runs(
        args, settings, video, host, port, work)
    report.update({
        "settings": {"video": str(video), "interval_ms": args.interval_ms,
                     "threads": sorted({1, os.cpu_count() or 1}),
                     "seconds": settings.seconds, "window_s": settings.window_s},
        "scenes": [{"name": s.name, "description": s.description, "frames": len(s.frames),
                    "width": s.size[0], "height": s.size[1]} for s in scenes],
        "decode_ms": summary(decode),
        "stages": [r.as_dict() for r in records],
        "skipped": [{"variant": s.key, "title": s.title, "reason": s.reason}
                    for s in skipped(models)],
        "flat_out": flat, "daemon": daemon, "model_memory": _model_memory(args, models),
    })
    report["comparisons"] = comparisons(report)
    report["targets"] = targets(report)
    plot = {f"{r.variant}, {r.scene}, {r.threads}t": r.samples["processing"] for r in records}
    return report, {**plot, **mqtt_samples}


def run_detection_bench(args: argparse.Namespace) -> int:
    """`bench --detection`: recall, false positives and cost of the detector configurations."""
    from edge_daemon.bench.detection import format_detection, plot_detection, run_detection
    from edge_daemon.bench.room_scenes import RoomSceneError

    try:
        settings = _settings(args)
        assets, video = _paths(args)
        set_threads(1)
        frames, _ = read_video(video, settings.video_frames)
        report = {"schema": 1, "emotion_edge": __version__, "quick": bool(args.quick),
                  "machine": _machine(),
                  "detection": run_detection(assets, list(one_face_scene(video, frames).frames),
                                             args.quick, args.detection_frames, _say)}
    except (BenchInputError, SceneError, RoomSceneError, ModelLoadError) as exc:
        print(f"emotion-edge bench: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(format_detection(report["detection"]))
    if args.json:
        write_json(report, args.json)
        _say(f"wrote {args.json}")
    if args.plot:
        why = plot_detection(report["detection"], args.plot)
        _say(f"plot not written: {why}" if why else f"wrote {args.plot}")
    return EXIT_OK


def run_outages_bench(args: argparse.Namespace) -> int:
    """`bench --outages`: the daemon's way back after broker outages of the given lengths."""
    from edge_daemon.bench.outages import format_outages, measure_outages, parse_outages

    try:
        outages = parse_outages(args.outages)
        _, video = _paths(args)
        with tempfile.TemporaryDirectory(prefix="emotion-edge-bench-") as tmp:
            camera = camera_stand_in(video, args.interval_ms or 100, Path(tmp) / "camera.avi")
            rows = measure_outages(camera, outages, args.interval_ms or 100, _say)
    except (ValueError, BrokerError, ProbeError, SceneError) as exc:
        print(f"emotion-edge bench: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(format_outages(rows, MqttConfig().reconnect_max_delay))
    if args.json:
        write_json({"schema": 1, "machine": _machine(), "outages": rows}, args.json)
    return EXIT_OK


def run_seed_churn_bench(args: argparse.Namespace) -> int:
    """`bench --seed-churn`: a connection per seed message for minutes; files, memory, time."""
    from edge_daemon.bench.seed_churn import format_seed_churn, measure_seed_churn

    if args.seed_churn <= 0 or args.churn_rate <= 0:
        print("emotion-edge bench: --seed-churn and --churn-rate must be over 0",
              file=sys.stderr)
        return EXIT_FAILED
    try:
        _, video = _paths(args)
        windows = max(2, min(20, int(args.seed_churn // 30) or 2))
        report = measure_seed_churn(video, args.seed_churn, args.churn_rate, windows, _say)
    except (ProbeError, SceneError, BenchInputError) as exc:
        print(f"emotion-edge bench: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(format_seed_churn(report))
    if args.json:
        write_json({"schema": 1, "machine": _machine(), "seed_churn": report}, args.json)
    return EXIT_OK if not report["failure_count"] else EXIT_FAILED


def run_bench(args: argparse.Namespace) -> int:
    """The `bench` subcommand: measure, print the table, write JSON and the plot."""
    if args.detection:
        return run_detection_bench(args)
    if args.seed_churn is not None:
        return run_seed_churn_bench(args)
    if args.outages:
        return run_outages_bench(args)
    broker = None
    try:
        if args.mqtt_host:
            host, port = args.mqtt_host, args.mqtt_port
        else:
            broker = LocalBroker()
            host, port = broker.host, broker.port
        with tempfile.TemporaryDirectory(prefix="emotion-edge-bench-") as tmp:
            report, samples = measure(args, host, port, Path(tmp))
    except (BenchInputError, SceneError, BrokerError, ProbeError, ModelLoadError) as exc:
        print(f"emotion-edge bench: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if broker is not None:
            broker.stop()
    print(format_table(report))
    if args.json:
        write_json(report, args.json)
        _say(f"wrote {args.json}")
    if args.plot:
        why = write_plot(report, samples, args.plot)
        _say(f"plot not written: {why}" if why else f"wrote {args.plot}")
    return EXIT_OK
