"""systemd/emotion-edge.service: valid for systemd, hardened, and a camera can still be opened."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "emotion-edge.service"
DROPINS = REPO / "systemd" / "dropins"
EXEC_START = "/opt/emotion-edge/venv/bin/emotion-edge"
MAX_EXPOSURE = 2.0

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze missing: apt-get install systemd (tools/test.sh does)",
)


def settings(text: str) -> dict[str, list[str]]:
    """Key -> values of every assignment (keys may repeat) in a unit file."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def verify(unit_text: str, directory: Path, executable: Path,
           dropin: str | None = None) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` on the unit with ExecStart pointing at a real executable
    (and a drop-in beside it, which systemd reads from emotion-edge.service.d/)."""
    unit = directory / "emotion-edge.service"
    unit.write_text(unit_text.replace(EXEC_START, str(executable)))
    if dropin is not None:
        (directory / "emotion-edge.service.d").mkdir()
        (directory / "emotion-edge.service.d" / "50-test.conf").write_text(dropin)
    return subprocess.run(["systemd-analyze", "verify", str(unit)],
                          capture_output=True, text=True, cwd=directory)


def exposure(directory: Path) -> float:
    """The overall exposure `systemd-analyze security --offline` gives the unit in directory."""
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", "./emotion-edge.service"],
        capture_output=True, text=True, cwd=directory,
    )
    match = re.search(r"Overall exposure level for emotion-edge\.service: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    return float(match.group(1))


@pytest.fixture
def executable(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "emotion-edge"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@needs_analyze
def test_systemd_analyze_verify_is_clean(tmp_path, executable):
    done = verify(UNIT.read_text(), tmp_path, executable)
    # Any warning (unknown key, bad syntax, a setting ignored) fails the test, not only errors.
    assert (done.returncode, done.stderr) == (0, "")


@needs_analyze
@pytest.mark.parametrize("name", sorted(p.stem for p in DROPINS.glob("*.conf")))
def test_device_dropins_verify_clean_and_stay_under_2(tmp_path, executable, name):
    done = verify(UNIT.read_text(), tmp_path, executable, (DROPINS / f"{name}.conf").read_text())
    assert (done.returncode, done.stderr) == (0, "")
    assert exposure(tmp_path) <= MAX_EXPOSURE


@needs_analyze
def test_verify_reads_the_dropin(tmp_path, executable):
    done = verify(UNIT.read_text(), tmp_path, executable, "[Service]\nDeviceAlow=/dev/nvmap rw\n")
    assert "DeviceAlow" in done.stderr


@needs_analyze
def test_verify_catches_a_broken_unit(tmp_path, executable):
    broken = UNIT.read_text().replace("Type=notify", "Type=notfy")
    broken = broken.replace("WatchdogSec=", "WatchdogSecs=")
    done = verify(broken, tmp_path, executable)
    # systemd only warns (exit 0) about these: the clean test must look at the text.
    assert "notfy" in done.stderr
    assert "WatchdogSecs" in done.stderr


@needs_analyze
def test_security_exposure_is_at_most_2(tmp_path):
    shutil.copy(UNIT, tmp_path)
    assert exposure(tmp_path) <= MAX_EXPOSURE


def test_notify_watchdog_restart_and_identity():
    unit = settings(UNIT.read_text())
    assert unit["Type"] == ["notify"]
    assert unit["ExecStart"] == [f"{EXEC_START} run --config /etc/emotion-edge/config.yaml"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["Restart"] == ["on-failure"]
    watchdog = int(unit["WatchdogSec"][0].removesuffix("s"))
    stop = int(unit["TimeoutStopSec"][0].removesuffix("s"))
    assert 10 <= watchdog <= 60
    assert stop > 5 + 5  # the MQTT flush (5 s) and camera release fit with room to spare
    assert unit["DynamicUser"] == ["yes"]
    assert unit["StateDirectory"] == ["emotion-edge"]
    assert unit["ConfigurationDirectory"] == ["emotion-edge"]
    assert unit["LoadCredential"] == ["mqtt_password:/etc/emotion-edge/mqtt_password",
                                      "websocket_token:/etc/emotion-edge/websocket_token"]


def test_cameras_stay_reachable():
    unit = settings(UNIT.read_text())
    # PrivateDevices= would hide /dev/video*; PrivateUsers= would map the video group away.
    assert "PrivateDevices" not in unit
    assert "PrivateUsers" not in unit
    assert unit["DevicePolicy"] == ["closed"]
    assert "char-video4linux rw" in unit["DeviceAllow"]
    assert unit["SupplementaryGroups"] == ["video"]
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
