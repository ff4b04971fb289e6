#!/usr/bin/env python3
"""Check that every runtime dependency installs from aarch64 wheels on the devices' Pythons.

A Raspberry Pi or a Jetson must never fall back to building a package from source (no
compiler, hours on a Pi, or a plain failure). For each target Python this asks pip to resolve
the whole dependency tree of `[project.dependencies]` with `--only-binary=:all:` for the
aarch64 manylinux platforms up to glibc 2.35 (Ubuntu 22.04 = JetPack 6; Raspberry Pi OS
bookworm has 2.36), then prints the wheel chosen for every package and names each dependency
that has none.

By default it runs `pip install --dry-run --report`: the same resolver and the same flags as
`pip download`, but only the wheels' metadata is fetched (PEP 658), not some 100 MB of
wheels per Python. `--download DIR` really downloads them (`pip download`), e.g. to carry a
wheelhouse to a device without internet (then `PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR`).

Exit status: 0 all resolved, 1 some dependency lacks an aarch64 wheel, 2 usage or pip error.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Raspberry Pi OS bookworm: 3.11. JetPack 6 (Ubuntu 22.04): 3.10. Ubuntu 24.04 images: 3.12.
DEFAULT_PYTHONS = ("3.10", "3.11", "3.12")
# The oldest glibc among the targets: Ubuntu 22.04's 2.35.
GLIBC_MINORS = range(17, 36)
PLATFORMS = ("manylinux2014_aarch64", *(f"manylinux_2_{m}_aarch64" for m in GLIBC_MINORS))
_NOT_FOUND = re.compile(
    r"(?:No matching distribution found for|Could not find a version that satisfies "
    r"the requirement) ([^\s(]+)"
)


@dataclass(frozen=True)
class Resolution:
    """What pip chose for one target Python: (name, version, wheel file) rows, or failures."""

    python: str
    wheels: tuple[tuple[str, str, str], ...]
    missing: tuple[str, ...]
    error: str = ""


def runtime_dependencies(pyproject: Path) -> list[str]:
    """The requirement strings of [project.dependencies] in pyproject."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def pip_command(python: str, requirements: list[str], download: Path | None, report: Path):
    """The pip command line resolving requirements for aarch64 and python."""
    target = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    for platform in PLATFORMS:
        target += ["--platform", platform]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    if download is not None:
        return [*pip, "download", *target, "-d", str(download), *requirements]
    return [*pip, "install", "--dry-run", "--ignore-installed", "--report", str(report),
            *target, *requirements]


def resolve(python: str, requirements: list[str], download: Path | None) -> Resolution:
    """Resolve the full tree for python; on failure, find every requirement that fails alone."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        where = None if download is None else download / f"py{python}"
        done = subprocess.run(
            pip_command(python, requirements, where, report), capture_output=True, text=True
        )
        if done.returncode == 0:
            return Resolution(python, _wheels(report, where), ())
    missing = _NOT_FOUND.findall(done.stderr)
    if not missing:
        return Resolution(python, (), (), error=done.stderr.strip()[-2000:])
    # pip stops at the first failure: try each top-level requirement alone to name them all.
    failing = [req for req in requirements if not _resolves(python, req)]
    return Resolution(python, (), tuple(sorted(set(missing) | set(failing))))


def _resolves(python: str, requirement: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = pip_command(python, [requirement], None, Path(tmp) / "report.json")
        return subprocess.run(cmd, capture_output=True).returncode == 0


def _wheels(report: Path, download: Path | None) -> tuple[tuple[str, str, str], ...]:
    if download is not None:  # a wheel's file name starts with its name and version
        return tuple((*wheel.name.split("-")[:2], wheel.name)  # type: ignore[misc]
                     for wheel in sorted(download.glob("*.whl")))
    rows = []
    for item in json.loads(report.read_text())["install"]:
        meta, wheel = item["metadata"], item["download_info"]["url"].rsplit("/", 1)[-1]
        rows.append((meta["name"], meta["version"], wheel))
    return tuple(sorted(rows, key=lambda row: row[0].lower()))


def wrong_platform(wheel: str) -> bool:
    """True for a wheel file that is neither pure Python nor built for aarch64."""
    tag = wheel.removesuffix(".whl").split("-")[-1]
    return not (tag == "any" or "aarch64" in tag)


def main(argv: list[str] | None = None) -> int:
    """Print the aarch64 wheels for every target Python; exit 1 when one is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-version", nargs="+", default=list(DEFAULT_PYTHONS),
                        metavar="X.Y", help="target Pythons (default: %(default)s)")
    parser.add_argument("--pyproject", type=Path, default=REPO / "pyproject.toml")
    parser.add_argument("--download", type=Path, metavar="DIR",
                        help="really download the wheels into DIR/py<X.Y>/")
    args = parser.parse_args(argv)
    requirements = runtime_dependencies(args.pyproject)
    # One pip per Python, side by side: the wait is mostly on PyPI, not on the CPU.
    with ThreadPoolExecutor(max_workers=len(args.python_version)) as pool:
        results = list(pool.map(lambda v: resolve(v, requirements, args.download),
                                args.python_version))
    status = 0
    for result in results:
        python = result.python
        if result.error:
            print(f"python {python}: pip failed:\n{result.error}", file=sys.stderr)
            return 2
        if result.missing:
            status = 1
            for name in result.missing:
                print(f"python {python}: NO aarch64 wheel for {name}")
            continue
        print(f"python {python}: all {len(result.wheels)} packages have aarch64 wheels")
        for name, version, wheel in result.wheels:
            flag = "  WRONG PLATFORM" if wrong_platform(wheel) else ""
            print(f"  {name} {version}: {wheel}{flag}")
            status = status or int(bool(flag))
    return status


if __name__ == "__main__":
    sys.exit(main())
