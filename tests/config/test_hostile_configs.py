"""Configs made to hurt the parser: refused with one line and exit 2, in bounded time.

Before the bounds, the alias bomb below kept `check-config` busy for over half an hour, the
deep nesting ended in a 3,000-line RecursionError and exit 1, and a 5 MB file took 18 s.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_daemon.config.errors import ConfigError
from edge_daemon.config.loader import MAX_CONFIG_BYTES, parse_config

EXIT_CONFIG = 2


def alias_bomb(levels: int = 9, fan: int = 9) -> str:
    """Each level's anchor is a list of `fan` aliases of the level below (fan**levels values)."""
    lines = ["a0: &a0 [" + ", ".join(["x"] * fan) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fan) + "]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias bomb": (alias_bomb(), "expands to more than 100,000 values"),
    "nested 100,000 levels": ("a: " + "[" * 100_000 + "]" * 100_000 + "\n",
                              "nested far more than 64 levels"),
    "nested 200 mappings": ("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 200)),
                            "nested more than 64 levels deep"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_yaml_is_refused_fast_with_one_problem(name):
    text, reason = HOSTILE[name]
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "hostile.yaml", {})
    assert time.monotonic() - started < 10
    assert len(caught.value.problems) == 1
    assert reason in caught.value.problems[0].reason


def test_a_bomb_of_fewer_values_than_the_limit_is_still_a_normal_config_error():
    with pytest.raises(ConfigError) as caught:
        parse_config(alias_bomb(levels=3), "small.yaml", {})
    assert "expands" not in str(caught.value)


@pytest.mark.parametrize("name", [*HOSTILE, "5 MB"])
def test_check_config_exits_2_with_one_line(tmp_path: Path, name):
    path = tmp_path / "config.yaml"
    if name == "5 MB":
        path.write_text("cameras: {}\n# " + "x" * (5 * 1024 * 1024) + "\n")
    else:
        path.write_text(HOSTILE[name][0])
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "edge_daemon", "check-config", "-c", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_CONFIG, done.stderr[-2000:]
    problem_lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(problem_lines) <= 3, done.stderr[-2000:]  # the file line and its one problem
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 60
    if name == "5 MB":
        assert f"larger than {MAX_CONFIG_BYTES // 1024 // 1024} MB" in done.stderr
