"""tools/link_system_gi.py: the system's gi, and nothing else of apt's, in a fresh venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "link_system_gi.py"
SYSTEM_GI = Path("/usr/lib/python3/dist-packages/gi")


def link(venv: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--venv", str(venv), *args],
                          capture_output=True, text=True, timeout=60)


def imports(venv: Path, module: str) -> bool:
    return subprocess.run([str(venv / "bin" / "python"), "-c", f"import {module}"],
                          capture_output=True, timeout=60).returncode == 0


@pytest.fixture
def venv(tmp_path) -> Path:
    path = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   timeout=120)
    return path


@pytest.mark.skipif(not list(SYSTEM_GI.glob(f"_gi.cpython-{sys.version_info.major}"
                                            f"{sys.version_info.minor}-*.so")),
                    reason="no system gi built for this Python")
def test_gi_is_linked_in_and_apt_s_other_packages_stay_out(venv):
    assert not imports(venv, "gi")
    done = link(venv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("linked the system's gi into the venv:")
    assert imports(venv, "gi")
    assert not imports(venv, "yaml")  # apt's python3-yaml is there, and stays apt's
    again = link(venv)
    assert again.returncode == 0 and "already importable" in again.stdout


def test_a_system_without_pygobject_is_one_line_naming_the_packages(venv, tmp_path):
    no_gi = tmp_path / "python3"
    no_gi.write_text("#!/bin/sh\nexit 1\n")
    no_gi.chmod(0o755)
    done = link(venv, "--system-python", str(no_gi))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"cannot link gi: the system has no PyGObject for {no_gi}: "
        "apt install python3-gi gir1.2-gstreamer-1.0"]
    assert not imports(venv, "gi")
