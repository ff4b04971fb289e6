"""The `emotion-edge` command: run the daemon, check a config, probe the machine, print the schema.

Exit codes:
    0  success (for `run`: stopped by SIGTERM/SIGINT, or every camera's video ended)
    1  fatal runtime error: nothing can work (an unusable model, no usable camera backend,
       MQTT settings that cannot be set up)
    2  configuration error (invalid YAML or values, every problem listed, no traceback),
       or a command-line usage error

Signals: SIGTERM and SIGINT stop the daemon cleanly (exit 0); SIGHUP reloads the config.

Logs go to stderr, one line per event; under systemd (stderr is the journal) without
timestamps and with a `<N>` syslog priority per line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from edge_daemon import __version__
from edge_daemon.bench.options import add_bench_arguments
from edge_daemon.config.errors import ConfigError
from edge_daemon.config.loader import load_config
from edge_daemon.config.root import DEFAULT_CONFIG_PATH, Config
from edge_daemon.config.schema import config_json_schema_text
from edge_daemon.logging_setup import configure_logging

log = logging.getLogger("edge_daemon")

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_CONFIG = 2
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
WATCH_URL = "ws://127.0.0.1:8000/stream"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", choices=LOG_LEVELS, type=str.lower,
                        help="lowest level logged; overrides logging.level of the config")
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("-c", "--config", type=Path, default=Path(DEFAULT_CONFIG_PATH),
                             metavar="PATH",
                             help=f"YAML config file (default {DEFAULT_CONFIG_PATH})")
    parser = argparse.ArgumentParser(
        prog="emotion-edge",
        description="Headless facial-emotion sensor: cameras -> face detection -> emotion "
        "model -> MQTT.",
        epilog="Exit codes: 0 ok, 1 fatal runtime error (e.g. unusable model), 2 config or "
        "usage error. Environment: MODEL_FILE and IMAGES_DIR override the config as in the "
        "seed; EMOTION_EDGE_MQTT_PASSWORD or $CREDENTIALS_DIRECTORY/mqtt_password give the "
        "MQTT password; {EMOTION_EDGE_*} placeholders in the YAML are filled from the "
        "environment.",
    )
    parser.add_argument("--version", action="version", version=f"emotion-edge {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("run", parents=[common, with_config], help="run the daemon",
                        description="Run the daemon until SIGTERM or SIGINT.")
    check = commands.add_parser(
        "check-config", parents=[common, with_config], help="validate a config and exit",
        description="Validate the config (every problem at once, exit 2 if any), then check "
        "that each enabled camera's backend works here (a GStreamer pipeline is parsed: "
        "unknown elements, missing plugins, no appsink) and load the models it names (exit "
        "1 if a camera or a model is unusable). Starts no camera.")
    check.add_argument("--no-models", action="store_true",
                       help="only validate the YAML (no camera backends, no models)")
    probe = commands.add_parser(
        "probe", parents=[common], help="list cameras, onnxruntime providers, libraries",
        description="List the V4L2 cameras that deliver frames, onnxruntime's execution "
        "providers, OpenCV's FFmpeg and GStreamer's (PyGObject) support, whether picamera2 "
        "and mediapipe import, and which provider runs each model's nodes (each model runs "
        "once, profiled, with the runtime section of --config if given).")
    probe.add_argument("--json", action="store_true", help="print JSON instead of text")
    probe.add_argument("--config", type=Path, default=None,
                       help="take the runtime providers and the emotion model from this config")
    schema = commands.add_parser(
        "schema", parents=[common], help="print the config's JSON Schema (for editors)",
        description="Print the JSON Schema of the YAML config, e.g. for the YAML language "
        "server: # yaml-language-server: $schema=config.schema.json")
    schema.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write to FILE instead of stdout")
    watch = commands.add_parser(
        "watch", parents=[common], help="print what a running daemon sees, every few seconds",
        description="Connect to a running daemon's results stream and print one line every "
        "few seconds: per camera the faces in view, the dominant emotion and results per "
        "second. Waits for the daemon if it is not up. Ctrl-C stops it.")
    watch.add_argument("--url", default=WATCH_URL, metavar="URL",
                       help=f"the daemon's results stream (default {WATCH_URL})")
    watch.add_argument("--every", type=float, default=3.0, metavar="S",
                       help="seconds between lines (default 3)")
    bench = commands.add_parser(
        "bench", parents=[common], help="measure speed, CPU, memory and MQTT latency here",
        description="Time the pipeline stage by stage beside the Keras original's, int8 and "
        "PyTorch eager, run the daemon at a camera interval to measure its CPU share, memory "
        "and frame-to-MQTT latency, and check the performance targets.")
    add_bench_arguments(bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    # The daemon talks at info; the one-shot commands only when something is wrong.
    configure_logging(args.log_level or ("info" if args.command == "run" else "warning"))
    handlers = {"run": _run, "check-config": _check_config, "probe": _probe, "schema": _schema,
                "watch": _watch, "bench": _bench}
    return handlers[args.command](args)


def _load(args: argparse.Namespace) -> Config | None:
    """The validated config (for `run`, logging set to its level); None when invalid."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return None
    if not args.log_level and args.command == "run":
        configure_logging(config.logging.level)
    return config


def _run(args: argparse.Namespace) -> int:
    # The models, OpenCV and paho are imported only by the commands that need them.
    from edge_daemon.app import StartupError
    from edge_daemon.runner import DaemonRunner

    config = _load(args)
    if config is None:
        return EXIT_CONFIG
    log.info("emotion-edge %s starting with %s", __version__, args.config)
    try:
        clean = DaemonRunner(args.config, config, args.log_level).run()
    except StartupError as exc:
        log.critical("cannot start: %s", exc)
        return EXIT_FATAL
    if not clean:
        # A thread blocked inside a camera driver cannot be joined, and letting the
        # interpreter tear down around it can abort the process: leave at once instead.
        logging.shutdown()
        os._exit(EXIT_OK)
    return EXIT_OK


def _check_config(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return EXIT_CONFIG
    cameras = ", ".join(f"{name} ({cam.source.type})" for name, cam in config.cameras.items())
    print(f"{args.config}: valid; cameras: {cameras}")
    if args.no_models:
        return EXIT_OK
    from edge_daemon.app import StartupError, load_classifier, load_detector
    from edge_daemon.sources.capture import SourceUnavailableError
    from edge_daemon.sources.registry import build_source

    unusable = 0
    for name, camera in config.enabled_cameras().items():
        try:
            build_source(name, camera)  # builds, does not start: no device is opened
        except SourceUnavailableError as exc:
            print(f"{args.config}: camera {name}: {exc}", file=sys.stderr)
            unusable += 1

    try:
        classifier = load_classifier(config)
        load_detector(config.detector, config.runtime)
    except StartupError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return EXIT_FATAL
    meta = classifier.meta
    print(f"emotion model {meta.name} ({meta.quantization}): {', '.join(meta.labels)}; "
          f"face detector {config.detector.backend} ({config.detector.model}): usable")
    return EXIT_FATAL if unusable else EXIT_OK


def _probe(args: argparse.Namespace) -> int:
    from edge_daemon.probe import format_report, run_probe

    runtime = classifier = None
    if args.config is not None:
        config = _load(args)
        if config is None:
            return EXIT_CONFIG
        runtime, classifier = config.runtime, config.classifier
    report = run_probe(runtime=runtime, classifier=classifier)
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    text = config_json_schema_text()
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _watch(args: argparse.Namespace) -> int:
    from edge_daemon.config.websocket import WS_TOKEN_ENV
    from edge_daemon.watch import watch

    if args.every <= 0:
        print("emotion-edge watch: --every must be over 0", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return watch(args.url, args.every, os.environ.get(WS_TOKEN_ENV))
    except KeyboardInterrupt:
        return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    from edge_daemon.bench.command import run_bench

    return run_bench(args)
