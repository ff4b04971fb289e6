"""50 broken configs through `emotion-edge check-config`: each exits 2 with the problem named
in one line, in seconds and bounded memory, without a traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.robustness

EXIT_CONFIG = 2
TIME_BOUND_S = 20.0  # Python start-up and imports included, on a loaded machine
MEMORY_BOUND_MB = 400
CAMERA = "cameras:\n  front:\n    source: {type: file, path: /videos/a.mp4}\n"


def _bomb(levels: int, fan: int) -> str:
    lines = ["a0: &a0 [" + ", ".join(["x"] * fan) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


BROKEN: dict[str, str | bytes] = {
    # YAML syntax
    "tab indentation": "cameras:\n\tfront: {}\n",
    "unclosed flow mapping": "cameras: {front: {source: {type: file}\n",
    "unclosed quote": 'cameras:\n  front:\n    source: {type: file, path: "/x.mp4}\n',
    "bad indentation": "cameras:\n  front:\n source: x\n",
    "stray colon": "cameras: : :\n",
    "unknown tag": "cameras: !!python/object:os.system {}\n",
    "undefined alias": "cameras: *nowhere\n",
    "two documents": CAMERA + "---\n" + CAMERA,
    "null byte": "cameras:\n  front: \0\n",
    "unclosed sequence": "cameras: [a, b\n",
    # the shape of the file
    "a list at the top": "- cameras\n- mqtt\n",
    "a scalar at the top": "just some words\n",
    "empty cameras": "cameras: {}\n",
    "cameras a string": "cameras: front\n",
    "no cameras at all": "mqtt: {host: localhost}\n",
    # unknown keys
    "unknown section": CAMERA + "mqqt: {host: x}\n",
    "unknown camera key": CAMERA.replace("source:", "sauce:"),
    "unknown source type": CAMERA.replace("type: file", "type: webcam"),
    "unknown detector key": CAMERA + "detector: {skip_stable_frames: 1}\n",
    "unknown mqtt key": CAMERA + "mqtt: {hostname: x}\n",
    # wrong types and values
    "port a string": CAMERA + "mqtt: {port: eighteen}\n",
    "port out of range": CAMERA + "mqtt: {port: 70000}\n",
    "negative interval": CAMERA.replace("    source:", "    interval_ms: -5\n    source:"),
    "interval a list": CAMERA.replace("    source:", "    interval_ms: [1]\n    source:"),
    "qos 3": CAMERA + "mqtt: {topics: {results: {qos: 3}}}\n",
    "search width not a multiple of 16": CAMERA + "detector: {search_width: 333}\n",
    "rescan frames 0": CAMERA + "detector: {rescan_frames: 0}\n",
    "score threshold 2": CAMERA + "detector: {score_threshold: 2}\n",
    "backend unknown": CAMERA + "detector: {backend: yolo}\n",
    "threads negative": CAMERA + "runtime: {threads: -2}\n",
    "log level shout": CAMERA + "logging: {level: shout}\n",
    "topic with wildcard": CAMERA + "mqtt: {topic_prefix: 'a/#'}\n",
    "snapshots interval negative": CAMERA + "snapshots: {enabled: true, interval_s: -1}\n",
    "reconnect delays reversed": CAMERA + "mqtt: {reconnect_min_delay: 10, "
                                          "reconnect_max_delay: 1}\n",
    "boolean a word": CAMERA + "metrics: {enabled: perhaps}\n",
    # alias bombs and deep nesting
    "alias bomb 9x9": _bomb(9, 9),
    "alias bomb 6x10": _bomb(6, 10),
    "alias bomb 20x3": _bomb(20, 3),
    "nested 100,000 sequences": "cameras: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "nested 5,000 mappings": "cameras: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n",
    "indented 300 levels": "cameras:\n" + "".join(" " * i + "a:\n" for i in range(1, 300)),
    # size
    "5 MB of comment": CAMERA + "# " + "x" * (5 * 1024 * 1024) + "\n",
    "2 MB of keys": CAMERA + "".join(f"k{i}: {i}\n" for i in range(200_000)),
    # encoding
    "latin-1 bytes": CAMERA.encode() + b"# caf\xe9\n",
    "a lone surrogate half": CAMERA.encode() + b"# \xed\xa0\x80\n",
    "utf-16 with BOM": ("\ufeff" + CAMERA).encode("utf-16"),
    # duplicate keys
    "duplicate section": CAMERA + "mqtt: {}\nmqtt: {}\n",
    "duplicate camera": CAMERA + "  front:\n    source: {type: file, path: /b.mp4}\n",
    "duplicate key in a flow mapping": CAMERA + "mqtt: {host: a, host: b}\n",
    # placeholders
    "placeholder not set": CAMERA + "mqtt: {host: '{EMOTION_EDGE_NOT_SET_ANYWHERE}'}\n",
}


def _check_config(path: Path, folder: Path) -> tuple[int, str, float]:
    """(exit code, stderr, peak memory in MB) of one check-config child.

    The peak is the child's own VmHWM, polled while it runs: the rusage of a forked child
    also counts the pages it shared with this (large) pytest process before its exec.
    """
    err = folder / "stderr.txt"
    peak_kb = 0
    with err.open("wb") as stderr:
        child = subprocess.Popen([sys.executable, "-m", "edge_daemon", "check-config",
                                  "--no-models", "-c", str(path)], stdout=subprocess.DEVNULL,
                                 stderr=stderr, env={"PATH": "/usr/bin:/bin"})
        status = Path(f"/proc/{child.pid}/status")
        cmdline = Path(f"/proc/{child.pid}/cmdline")
        while child.poll() is None:
            time.sleep(0.005)
            try:
                if b"check-config" not in cmdline.read_bytes():
                    continue  # not exec'd yet: still a copy of this process
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                pass
    return child.returncode, err.read_text(errors="replace"), peak_kb / 1024


def test_fifty_broken_configs(tmp_path: Path, report_figures):
    assert len(BROKEN) >= 50
    worst_s, peak_mb, lines_seen = 0.0, 0.0, {}
    for index, (name, text) in enumerate(BROKEN.items()):
        path = tmp_path / f"broken{index}.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        started = time.monotonic()
        code, stderr, memory_mb = _check_config(path, tmp_path)
        seconds = time.monotonic() - started
        worst_s, peak_mb = max(worst_s, seconds), max(peak_mb, memory_mb)
        problems = [line for line in stderr.splitlines()[1:] if line.strip()]
        assert code == EXIT_CONFIG, (name, code, stderr[-1500:])
        assert "Traceback" not in stderr, name
        assert problems and all(len(line) < 400 for line in problems), (name, stderr)
        assert seconds < TIME_BOUND_S, (name, seconds)
        assert memory_mb < MEMORY_BOUND_MB, (name, memory_mb)
        lines_seen[name] = problems[0].strip()
    report_figures("configs", {"configs": len(BROKEN), "worst_seconds": round(worst_s, 2),
                               "peak_child_rss_mb": round(peak_mb, 1),
                               "first_problem_line": lines_seen})
