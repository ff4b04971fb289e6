"""tools/install.sh into a temporary root, checked file by file; then again; then uninstall.

The daemon's dependencies are skipped (PIP_NO_DEPS=1): their aarch64 availability is what
test_aarch64_wheels.py checks, and the layout here does not depend on them. Building the
checkout fetches setuptools from PyPI (pip's cache makes that quick).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "tools" / "install.sh"
UNINSTALL = REPO / "tools" / "uninstall.sh"
UNIT = "emotion-edge.service"
VENV = "opt/emotion-edge/venv"
WANTS = f"etc/systemd/system/multi-user.target.wants/{UNIT}"
SYSTEM_GI_FITS = bool(list(Path("/usr/lib/python3/dist-packages/gi").glob(
    f"_gi.cpython-{sys.version_info.major}{sys.version_info.minor}-*.so")))

pytestmark = pytest.mark.network


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> 'dir MODE', 'link TARGET' or 'file MODE SHA256' (venv: just 'venv')."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(VENV + "/"):
            continue
        if path.is_symlink():
            found[rel] = f"link {os.readlink(path)}"
        elif rel == VENV:
            found[rel] = "venv"
        elif path.is_dir():
            found[rel] = f"dir {path.stat().st_mode & 0o7777:o}"
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            found[rel] = f"file {path.stat().st_mode & 0o7777:o} {digest}"
    return found


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run(script: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIP_NO_DEPS="1")
    env.pop("DESTDIR", None)
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                          env=env, timeout=300)


@dataclass
class Installed:
    """An install root after a first install and a second one over a user-edited config."""

    root: Path
    example: Path
    first: subprocess.CompletedProcess
    after_first: dict[str, str]
    second: subprocess.CompletedProcess
    after_second: dict[str, str]
    build_dir_appeared: bool


@dataclass
class Uninstalled:
    """A copy of that root after uninstall, a second uninstall and a purge."""

    after_uninstall: dict[str, str]
    uninstall_again: subprocess.CompletedProcess
    after_purge: dict[str, str]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("install")
    root = tmp / "root"
    example = REPO / "config" / "config.example.yaml"
    if not example.exists():  # written by another issue; a stand-in until it lands
        example = tmp / "config.example.yaml"
        example.write_text("cameras:\n  front:\n    source: /dev/video0\n")
    had_build_dir = (REPO / "build").exists()
    common = ("--root", str(root), "--python", sys.executable, "--example", str(example))

    first = run(INSTALL, *common, "--dropin", "pi-camera")
    assert first.returncode == 0, first.stdout + first.stderr
    after_first = snapshot(root)
    # The user edits the config, then upgrades by running the installer again.
    (root / "etc/emotion-edge/config.yaml").write_text("# mine\ncameras: {}\n")
    second = run(INSTALL, "install", *common)
    assert second.returncode == 0, second.stdout + second.stderr
    return Installed(root, example, first, after_first, second, snapshot(root),
                     not had_build_dir and (REPO / "build").exists())


@pytest.fixture(scope="module")
def uninstalled(installed, tmp_path_factory) -> Uninstalled:
    root = tmp_path_factory.mktemp("uninstall") / "root"
    shutil.copytree(installed.root, root, symlinks=True)
    # The service wrote a password file and saved images (DynamicUser's private state).
    (root / "etc/emotion-edge/mqtt_password").write_text("secret\n")
    (root / "var/lib/private/emotion-edge/snapshots").mkdir(parents=True)
    (root / "var/lib/private/emotion-edge/snapshots/0001.jpg").write_bytes(b"\xff\xd8")
    (root / "var/lib/emotion-edge").symlink_to("private/emotion-edge")
    (root / f"etc/systemd/system/{UNIT}.d/90-local.conf").write_text("[Service]\nNice=5\n")
    done = run(UNINSTALL, "--root", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    after_uninstall = snapshot(root)
    again = run(UNINSTALL, "--root", str(root))
    purge = run(INSTALL, "uninstall", "--purge", "--root", str(root))
    assert purge.returncode == 0, purge.stdout + purge.stderr
    return Uninstalled(after_uninstall, again, snapshot(root))


def test_files_installed_one_by_one(installed):
    unit = REPO / "systemd" / UNIT
    example = digest(installed.example)
    expected = {
        "etc": "dir 755",
        "etc/emotion-edge": "dir 755",
        "etc/emotion-edge/config.example.yaml": f"file 644 {example}",
        "etc/emotion-edge/config.yaml": f"file 644 {example}",
        "etc/emotion-edge/mqtt_password": f"file 600 {hashlib.sha256(b'').hexdigest()[:16]}",
        "etc/emotion-edge/websocket_token": f"file 600 {hashlib.sha256(b'').hexdigest()[:16]}",
        "etc/systemd": "dir 755",
        "etc/systemd/system": "dir 755",
        f"etc/systemd/system/{UNIT}": f"file 644 {digest(unit)}",
        f"etc/systemd/system/{UNIT}.d": "dir 755",
        f"etc/systemd/system/{UNIT}.d/50-pi-camera.conf":
            f"file 644 {digest(REPO / 'systemd/dropins/pi-camera.conf')}",
        "opt": "dir 755",
        "opt/emotion-edge": "dir 755",
        VENV: "venv",
    }
    if (REPO / "README.md").exists():
        expected["opt/emotion-edge/README.md"] = f"file 644 {digest(REPO / 'README.md')}"
    if (REPO / "docs").is_dir():  # the pages the README links to, beside it
        expected["opt/emotion-edge/docs"] = "dir 755"
        for page in sorted((REPO / "docs").iterdir()):
            if page.suffix in (".md", ".png"):
                expected[f"opt/emotion-edge/docs/{page.name}"] = f"file 644 {digest(page)}"
    if shutil.which("systemctl"):  # `systemctl --root enable` works without a running systemd
        expected["etc/systemd/system/multi-user.target.wants"] = "dir 755"
        expected[WANTS] = f"link /etc/systemd/system/{UNIT}"
    assert installed.after_first == expected
    assert "enabled emotion-edge.service offline" in installed.first.stdout or not shutil.which(
        "systemctl")


def test_venv_holds_the_checkout_with_its_models(installed):
    venv = installed.root / VENV
    command = venv / "bin" / "emotion-edge"
    assert os.access(command, os.X_OK)
    assert command.read_text().splitlines()[0] == f"#!{venv}/bin/python"
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import edge_daemon, pathlib; d = pathlib.Path(edge_daemon.__file__).parent; "
         "print(edge_daemon.__version__); print(*sorted(p.name for p in d.glob('models/*.onnx')))"
         "; print(d)"],
        capture_output=True, text=True, check=True, cwd=venv,  # not the checkout: no sys.path[0]
    )
    version, models, package = probe.stdout.splitlines()
    source = REPO / "edge_daemon"
    assert version == subprocess.run(
        [sys.executable, "-c", "import edge_daemon; print(edge_daemon.__version__)"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert models.split() == sorted(p.name for p in (source / "models").glob("*.onnx"))
    installed = Path(package)
    assert installed != source  # a real copy, not an editable link to the checkout
    assert digest(installed / "service" / "notify.py") == digest(source / "service" / "notify.py")


def test_checkout_is_left_alone(installed):
    assert not installed.build_dir_appeared


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_installed_unit_verifies_against_the_installed_command(installed, tmp_path):
    text = (installed.root / f"etc/systemd/system/{UNIT}").read_text()
    unit = tmp_path / UNIT
    unit.write_text(text.replace("/opt/emotion-edge", f"{installed.root}/opt/emotion-edge"))
    # verify reads drop-ins beside the unit: the installed pi-camera one comes along.
    shutil.copytree(installed.root / f"etc/systemd/system/{UNIT}.d", tmp_path / f"{UNIT}.d")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


def test_second_install_keeps_the_users_config_and_changes_nothing_else(installed):
    assert "reusing the virtual environment" in installed.second.stdout
    assert "kept your /etc/emotion-edge/config.yaml" in installed.second.stdout
    changed = {k for k in installed.after_first.keys() | installed.after_second.keys()
               if installed.after_first.get(k) != installed.after_second.get(k)}
    assert changed == {"etc/emotion-edge/config.yaml"}
    assert (installed.root / "etc/emotion-edge/config.example.yaml").read_bytes() == \
        installed.example.read_bytes()


def test_uninstall_keeps_config_password_and_saved_images_only(installed, uninstalled):
    password = "file 600 " + hashlib.sha256(b"secret\n").hexdigest()[:16]
    image = "file 644 " + hashlib.sha256(b"\xff\xd8").hexdigest()[:16]
    local_dropin = "file 644 " + hashlib.sha256(b"[Service]\nNice=5\n").hexdigest()[:16]
    assert uninstalled.after_uninstall == {
        "etc": "dir 755",
        "etc/emotion-edge": "dir 755",
        "etc/emotion-edge/config.yaml": installed.after_second["etc/emotion-edge/config.yaml"],
        "etc/emotion-edge/mqtt_password": password,
        "etc/emotion-edge/websocket_token": installed.after_second[
            "etc/emotion-edge/websocket_token"],
        "etc/systemd": "dir 755",
        "etc/systemd/system": "dir 755",
        f"etc/systemd/system/{UNIT}.d": "dir 755",  # the user's drop-in stays, ours goes
        f"etc/systemd/system/{UNIT}.d/90-local.conf": local_dropin,
        "opt": "dir 755",
        "var": "dir 755",
        "var/lib": "dir 755",
        "var/lib/emotion-edge": "link private/emotion-edge",
        "var/lib/private": "dir 755",
        "var/lib/private/emotion-edge": "dir 755",
        "var/lib/private/emotion-edge/snapshots": "dir 755",
        "var/lib/private/emotion-edge/snapshots/0001.jpg": image,
    }


def test_uninstall_twice_is_fine_and_purge_removes_the_rest(uninstalled):
    assert uninstalled.uninstall_again.returncode == 0, uninstalled.uninstall_again.stderr
    assert not any(k.startswith(("etc/emotion-edge", "var/lib/private/emotion-edge",
                                 "var/lib/emotion-edge", "opt/emotion-edge"))
                   for k in uninstalled.after_purge)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "emotion-edge: error: unknown option '--bogus' (see --help)"),
        (["reinstall"], "emotion-edge: error: unknown command 'reinstall' (install or uninstall)"),
        (["--example", "/nonexistent.yaml"],
         "emotion-edge: error: example config '/nonexistent.yaml' not found "
         "(give one with --example FILE)"),
        (["--wheel", "/none.whl"], "emotion-edge: error: wheel '/none.whl' not found"),
        (["--dropin", "pi"], "emotion-edge: error: no drop-in 'pi' (there are: jetson pi-camera)"),
    ],
)
def test_bad_arguments_fail_fast_with_one_line(args, message, tmp_path):
    done = run(INSTALL, *args, "--root", str(tmp_path / "root"))
    assert done.returncode == 1
    assert done.stderr.strip() == message
    assert not (tmp_path / "root" / "opt").exists()


@pytest.mark.parametrize(("board", "dropin", "site_packages"), [
    ("pi", "pi-camera", True), ("jetson", "jetson", False), ("generic", None, False)])
def test_each_board_gets_its_drop_in_its_venv_and_its_apt_packages(
    board, dropin, site_packages, tmp_path
):
    root = tmp_path / "root"
    done = run(INSTALL, "--root", str(root), "--python", sys.executable, "--board", board)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f", board {board}, into {root}" in done.stdout
    dropins = sorted(p.name for p in (root / f"etc/systemd/system/{UNIT}.d").glob("*.conf"))
    assert dropins == ([f"50-{dropin}.conf"] if dropin else [])
    config = (root / VENV / "pyvenv.cfg").read_text()
    assert f"include-system-site-packages = {str(site_packages).lower()}" in config
    # Into a root, apt is left alone: the script says what the board still lacks.
    wanted = [line for line in done.stdout.splitlines() if "wants:" in line]
    if board == "generic":
        assert wanted == []
    else:
        assert len(wanted) <= 1
        if board == "pi":  # python3-picamera2 is Raspberry Pi OS's: never on this machine
            assert "python3-picamera2" in wanted[0]
    # The system's gi is linked in where the venv does not see it already.
    gi = root / VENV / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
        "site-packages" / "gi"
    if SYSTEM_GI_FITS and not site_packages:
        assert gi.is_symlink() and "linked the system's gi into the venv" in done.stdout


def test_an_unknown_board_is_one_line(tmp_path):
    done = run(INSTALL, "--root", str(tmp_path / "root"), "--board", "beaglebone")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "emotion-edge: error: unknown board 'beaglebone' (pi, jetson or generic)")


def test_this_machine_is_detected_as_generic(installed):
    assert ", board generic, into" in installed.first.stdout


def test_onnxruntime_gpu_replaces_the_cpu_build_and_a_gpu_less_machine_falls_back(tmp_path):
    # The real onnxruntime-gpu (PyPI's x86-64 build; NVIDIA's aarch64 one is the same
    # package) on a machine without CUDA: CUDA is listed but cannot start.
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "-d", str(wheels), "onnxruntime-gpu"],
                   check=True, timeout=600)
    (wheel,) = wheels.glob("onnxruntime_gpu-*.whl")
    root = tmp_path / "root"
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_NO_DEPS", "DESTDIR")}
    common = ["bash", str(INSTALL), "--root", str(root), "--python", sys.executable,
              "--board", "jetson"]
    first = subprocess.run([*common, "--onnxruntime-gpu", str(wheel)], capture_output=True,
                           text=True, env=env, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"replacing onnxruntime by onnxruntime-gpu ({wheel})" in first.stdout
    assert "CUDAExecutionProvider" in first.stdout  # the probe printed at the end
    assert "note: no CUDA provider" not in first.stdout

    # An upgrade pulls the CPU build back in as a dependency: the swap is repeated.
    second = subprocess.run(common, capture_output=True, text=True, env=env, timeout=900)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "replacing onnxruntime by onnxruntime-gpu" in second.stdout
    venv = root / VENV
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list",
                             "--format=freeze"], capture_output=True, text=True, check=True)
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert "onnxruntime-gpu" in names and "onnxruntime" not in names

    config = tmp_path / "config.yaml"
    config.write_text("cameras: {a: {source: {type: v4l2}}}\nruntime: {providers: [cuda, cpu]}\n")
    probe = subprocess.run([str(venv / "bin" / "emotion-edge"), "probe", "--json", "--config",
                            str(config)], capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    fallback = [line for line in probe.stderr.splitlines() if "could not be started" in line]
    assert len(fallback) == 1, probe.stderr
    assert "CUDAExecutionProvider could not be started" in fallback[0]
    assert fallback[0].endswith("running on CPUExecutionProvider")
    import json
    report = json.loads(probe.stdout)
    assert "CUDAExecutionProvider" in report["onnxruntime_providers"]
    assert all(set(m["nodes"]) == {"CPUExecutionProvider"} for m in report["models"]), report
