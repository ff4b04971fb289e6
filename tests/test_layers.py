"""Imports run down the data flow (docs/architecture.md): import-linter's contracts hold.

The contracts live in pyproject.toml ([tool.importlinter]); `lint-imports` reads them. The
second test proves the check bites: the same contracts on a copy of the package with one
import up a layer must fail and name it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(pythonpath: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with these roots first on the path; no cache, plain output."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in pythonpath))
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_import_contract_is_kept():
    done = lint_imports([REPO, REPO / "tools"], REPO)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_an_import_up_a_layer_breaks_the_contract(tmp_path: Path):
    copy = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.onnx", "web", "*.json")
    for package in ("edge_daemon", "tools/edge_export", "tools/edge_models"):
        shutil.copytree(REPO / package, copy / package, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    records = copy / "edge_daemon" / "core" / "records.py"
    records.write_text(records.read_text() + "\nfrom edge_daemon.app import App  # up\n")
    done = lint_imports([copy, copy / "tools"], copy)
    assert done.returncode != 0
    assert "edge_daemon.core.records -> edge_daemon.app" in done.stdout
