"""Files shipped inside the edge_daemon package: the bundled models and the live page.

Found through importlib.resources rather than paths built from __file__, so that the daemon
finds them however it was installed (a wheel in a venv, Debian's dist-packages, a checkout).
onnxruntime and the file server need real paths; a package installed as files gives them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_dir(name: str) -> Path:
    """A data folder of the package (`models`, `web`), as a filesystem path."""
    return Path(str(files("edge_daemon").joinpath(name)))
