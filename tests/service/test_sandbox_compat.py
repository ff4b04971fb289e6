"""The unit's sandbox does not break the native stack: OpenCV and onnxruntime run inside it.

Without a systemd to start the unit here, the two settings most likely to break a Python ML
service are rebuilt from the unit file and applied to a real process: SystemCallFilter= (the
same system call groups, expanded by this machine's systemd-analyze, enforced with seccomp
through libseccomp, plus RestrictAddressFamilies=) and MemoryDenyWriteExecute= (the kernel's
PR_SET_MDWE, the same rule). Then the real models run on a real image inside.
"""

from __future__ import annotations

import ctypes.util
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "emotion-edge.service"
PROBE = Path(__file__).with_name("sandbox_probe.py")
MODELS = sorted((REPO / "edge_daemon" / "models").glob("*.onnx"))


def syscall_groups() -> dict[str, list[str]]:
    """Every @group and its members, as this machine's systemd knows them."""
    text = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"],
                          capture_output=True, text=True, check=True).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("    ") and not line.strip().startswith("#") and current is not None:
            current.append(line.strip())
        elif not line.strip():
            current = None
    return groups


def expand(item: str, groups: dict[str, list[str]]) -> set[str]:
    if not item.startswith("@"):
        return {item}
    return set().union(*(expand(member, groups) for member in groups[item]))


def unit_syscall_allow_list() -> list[str]:
    """The allow-list SystemCallFilter= lines of the unit produce (allow first, then ~deny)."""
    groups = syscall_groups()
    allowed: set[str] = set()
    for line in UNIT.read_text().splitlines():
        if line.startswith("SystemCallFilter="):
            value = line.split("=", 1)[1]
            deny = value.startswith("~")
            names = set().union(*(expand(i, groups) for i in value.lstrip("~").split()))
            allowed = allowed - names if deny else allowed | names
    return sorted(allowed)


def run_probe(tmp_path: Path, assets: Path, *sandbox: str) -> dict:
    image = assets / "feat-test-data" / "multi_face.jpg"
    done = subprocess.run(
        [sys.executable, str(PROBE), *sandbox, "--image", str(image), "--out", str(tmp_path),
         "--model", *map(str, MODELS)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def check_workload(summary: dict) -> None:
    assert set(summary["outputs"]) == {m.name for m in MODELS}
    assert all(shapes for shapes in summary["outputs"].values())
    assert summary["snapshot_bytes"] > 10_000
    assert summary["tcp"] == "ping"


pytestmark = pytest.mark.skipif(not MODELS, reason="no bundled models yet (issue 2)")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.skipif(not ctypes.util.find_library("seccomp"), reason="needs libseccomp2")
def test_stack_runs_under_the_units_system_call_filter(tmp_path, assets):
    allow = unit_syscall_allow_list()
    assert "sched_setaffinity" in allow and "setuid" not in allow  # @resources in, ~@privileged
    syscalls = tmp_path / "allowed.txt"
    syscalls.write_text("\n".join(allow))
    summary = run_probe(tmp_path, assets, "--syscalls", str(syscalls))
    assert summary["setgroups_refused"] and summary["netlink_refused"]  # the filter is on
    check_workload(summary)


def test_stack_runs_without_writable_executable_memory(tmp_path, assets):
    release = tuple(int(x) for x in platform.release().split(".")[:2] if x.isdigit())
    if release < (6, 3):
        pytest.skip(f"kernel {platform.release()} has no PR_SET_MDWE (6.3+)")
    assert "MemoryDenyWriteExecute=yes" in UNIT.read_text().splitlines()
    summary = run_probe(tmp_path, assets, "--mdwe")
    assert summary["wx_memory_refused"]  # the rule is on
    check_workload(summary)
