"""Make the distribution's PyGObject (gi, for GStreamer) importable in a venv, and only it.

    python tools/link_system_gi.py --venv /opt/emotion-edge/venv

A venv made with --system-site-packages would see gi too, but with it every Python package
apt installed: pip then takes apt's NumPy or PyYAML as already installed, and apt's OpenCV
and PyPI's NumPy meet in one process (an ABI mismatch). A link to the one package keeps the
rest of the venv PyPI's. PyGObject from PyPI is no way out on the boards: it compiles
against development packages, and its current releases need a newer GLib than Raspberry Pi
OS 12 or Ubuntu 22.04 have.

The link works when the venv's Python is the system's own version (the extension module is
built for it): the venv must be made with the system's python3, as tools/install.sh does.
Exit status 0 when gi imports in the venv afterwards; 1 with one line saying why not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
APT_HINT = "apt install python3-gi gir1.2-gstreamer-1.0"
INFO = ("import importlib.util, json, sys, sysconfig; "
        "print(json.dumps({'purelib': sysconfig.get_paths()['purelib'], "
        "'suffix': sysconfig.get_config_var('EXT_SUFFIX'), "
        "'version': '%d.%d' % sys.version_info[:2], "
        "'gi': importlib.util.find_spec('gi') is not None}))")
FIND_GI = "import gi, os; print(os.path.dirname(gi.__file__))"


def interpreter_info(python: str) -> dict:
    """purelib, extension suffix, version and whether gi imports, for one interpreter."""
    done = subprocess.run([python, "-c", INFO], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def system_gi(system_python: str) -> Path | None:
    """The directory of the system's gi package, None when the system has none."""
    try:
        done = subprocess.run([system_python, "-c", FIND_GI], capture_output=True, text=True)
    except OSError:
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def link_gi(venv: Path, system_python: str = SYSTEM_PYTHON) -> str:
    """Link the system's gi into the venv; the line to print. Raises RuntimeError if it cannot."""
    python = str(venv / "bin" / "python")
    info = interpreter_info(python)
    if info["gi"]:
        return f"gi already importable in {venv}"
    source = system_gi(system_python)
    if source is None:
        raise RuntimeError(f"the system has no PyGObject for {system_python}: {APT_HINT}")
    if not list(source.glob(f"_gi{info['suffix']}")):
        built = sorted(p.name for p in source.glob("_gi.*.so"))
        raise RuntimeError(
            f"the system's gi ({source}) is built for another Python ({', '.join(built)}), the "
            f"venv runs Python {info['version']}: make the venv with {system_python}")
    target = Path(info["purelib"]) / "gi"
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(source, target_is_directory=True)
    if not interpreter_info(python)["gi"]:
        raise RuntimeError(f"linked {target} -> {source}, but gi still does not import")
    return f"linked the system's gi into the venv: {target} -> {source}"


def main(argv: list[str] | None = None) -> int:
    """Command line: link, print one line, exit 0 or 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix),
                        help="the venv (default: the one running this script)")
    parser.add_argument("--system-python", default=SYSTEM_PYTHON,
                        help=f"the interpreter apt's python3-gi belongs to ({SYSTEM_PYTHON})")
    args = parser.parse_args(argv)
    try:
        print(link_gi(args.venv.absolute(), args.system_python))
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        print(f"cannot link gi: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
