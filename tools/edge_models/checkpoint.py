"""Loading a user's state_dict file and checking that it fits an architecture."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from edge_models.errors import ExportError

log = logging.getLogger(__name__)

# Training scripts often save {"state_dict": ...} or {"model_state_dict": ...} checkpoints.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
SHOWN_NAMES = 3  # keys named per kind of mismatch before "and N more"
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
PICKLE_MAGIC = b"\x80"  # the legacy format starts with a pickle protocol opcode


def _is_tensor_dict(value: object) -> bool:
    return (isinstance(value, Mapping) and bool(value)
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()))


def _read(path: Path) -> object:
    if not path.exists():
        raise ExportError(f"{path}: no such file")
    if path.is_dir():
        raise ExportError(f"{path}: is a folder, not a state_dict file")
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise ExportError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not (head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_MAGIC)):
        raise ExportError(f"{path}: not a PyTorch file (torch.save writes a zip archive)")
    try:
        # weights_only refuses arbitrary pickled code; map_location lets files saved on a
        # CUDA machine load on a CPU-only one.
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):
            raise ExportError(
                f"{path}: holds pickled Python objects (a whole saved model?), not a state_dict;"
                " save it with torch.save(model.state_dict(), path)"
            ) from exc
        raise ExportError(f"{path}: not a readable PyTorch file ({_first_line(exc)})") from exc
    except Exception as exc:  # torch raises many kinds on truncated or foreign files
        raise ExportError(f"{path}: not a readable PyTorch file ({_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a state_dict saved with torch.save, on any device; ExportError if it is not one."""
    value = _read(path)
    if not _is_tensor_dict(value) and isinstance(value, Mapping):
        for key in WRAPPER_KEYS:
            if _is_tensor_dict(value.get(key)):
                log.info("%s: using the state_dict stored under %r", path, key)
                value = value[key]
                break
    if not isinstance(value, Mapping):
        raise ExportError(
            f"{path}: holds a {type(value).__name__}, not a state_dict (a dict of tensors)"
        )
    if not _is_tensor_dict(value):
        sample = ", ".join(str(k) for k in list(value)[:SHOWN_NAMES]) or "none"
        raise ExportError(
            f"{path}: holds a dict that is not a state_dict (its values are not all tensors;"
            f" keys: {sample})"
        )
    state = dict(value)
    if all(k.startswith("module.") for k in state):
        # Saved from nn.DataParallel: the wrapper adds "module." to every key.
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_NAMES])
    more = len(keys) - SHOWN_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def check_fit(module: nn.Module, state: Mapping[str, torch.Tensor], arch_name: str) -> None:
    """Raise ExportError naming missing, unexpected and mis-shaped keys, if any."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    differing = [
        f"{k} is {list(state[k].shape)} in the file but {list(expected[k].shape)} in the arch"
        for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{_count(len(missing), 'key')} missing ({_names(missing)})")
    if unexpected:
        problems.append(f"{_count(len(unexpected), 'unexpected key')} ({_names(unexpected)})")
    if differing:
        problems.append(f"{_count(len(differing), 'shape')} differ ({_names(differing)})")
    if problems:
        hint = ""
        if unexpected and all(k.startswith("base.") for k in unexpected):
            hint = "; keys starting with 'base.' are the seed's: try --arch seed-efficientnet-v2-m"
        elif missing and all(k.startswith("base.") for k in missing):
            hint = "; the seed's keys all start with 'base.'"
        raise ExportError(
            f"the state_dict does not fit {arch_name}: {'; '.join(problems)}{hint}"
        )


def output_width(state: Mapping[str, torch.Tensor], head_key: str, default: int) -> int:
    """How many values the network outputs, read from its final layer's weight."""
    head = state.get(head_key)
    return int(head.shape[0]) if head is not None and head.dim() >= 1 else default


def input_channels(state: Mapping[str, torch.Tensor], stem_key: str, default: int) -> int:
    """How many channels the network takes, read from its first conv's weight."""
    stem = state.get(stem_key)
    return int(stem.shape[1]) if stem is not None and stem.dim() == 4 else default
