"""The privacy switches' states kept across restarts (`privacy.remember`), as a JSON file.

Nothing of a face is in it: camera names and on/off. Written atomically (a new file renamed
over the old), so a crash or a full disk never leaves half a file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)


def load_privacy(path: Path) -> dict[str, bool]:
    """camera -> in privacy, as last saved; {} when there is no file or it is unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("privacy: cannot read %s (%s); starting from the config", path, exc)
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, bool) for v in data.values()):
        log.warning("privacy: %s is not a map of camera names to true/false; starting from "
                    "the config", path)
        return {}
    return {str(k): v for k, v in data.items()}


def save_privacy(path: Path, states: Mapping[str, bool]) -> bool:
    """Write the states; False (with one log line) when the disk refuses."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".privacy-",
                                         delete=False, encoding="utf-8") as out:
            temporary = out.name
            json.dump(dict(states), out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("privacy: cannot save the switches to %s (%s); they hold until the next "
                    "restart", path, exc)
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return False
    return True
