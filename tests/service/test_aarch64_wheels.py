"""Every runtime dependency resolves to aarch64 wheels for the devices' Pythons (asks PyPI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "tools" / "check_aarch64_wheels.py"

pytestmark = pytest.mark.network


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), *args], capture_output=True, text=True,
                          timeout=300)


def test_runtime_dependencies_have_aarch64_wheels_for_python_3_10_to_3_12():
    done = check()
    assert done.returncode == 0, done.stdout + done.stderr
    for python in ("3.10", "3.11", "3.12"):
        assert f"python {python}: all " in done.stdout
    wheels = [line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("  ")]
    compiled = [w for w in wheels if not w.endswith("-any.whl")]
    # The compiled ones that matter most are really there, and all for aarch64.
    for name in ("numpy-", "onnxruntime-", "opencv_python_headless-", "pydantic_core-"):
        assert sum(w.startswith(name) for w in compiled) == 3, name
    assert compiled and all("aarch64" in w for w in compiled)


def test_a_dependency_without_aarch64_wheel_is_named(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    # systemd-python is published as a source package only: no wheel for any platform.
    pyproject.write_text(
        '[project]\nname = "probe"\nversion = "0"\n'
        'dependencies = ["paho-mqtt>=2,<3", "systemd-python"]\n'
    )
    done = check("--pyproject", str(pyproject), "--python-version", "3.11")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["python 3.11: NO aarch64 wheel for systemd-python"]
