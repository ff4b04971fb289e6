"""Loading a user's state_dict file and checking that it fits an architecture."""

from __future__ import annotations

import logging
import pickle
import warnings
import zipfile
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
        raise ExportError(f"{path}: not a PyTorch file (torch.save writes a zip archive; "
                          f"this starts with {head!r})")
    if head.startswith(ZIP_MAGIC):
        _check_archive(path)
    try:
        # weights_only refuses arbitrary pickled code; map_location lets files saved on a
        # CUDA machine load on a CPU-only one.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's notes on pickle protocols
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):
            raise ExportError(
                f"{path}: holds pickled Python objects (a whole saved model?), not a state_dict;"
                " save it with torch.save(model.state_dict(), path)"
            ) from exc
        raise ExportError(f"{path}: not a readable PyTorch file: {_first_sentence(exc)}") from exc
    except Exception as exc:  # torch raises many kinds on truncated or foreign files
        if head.startswith(PICKLE_MAGIC):
            raise ExportError(f"{path}: not a readable PyTorch file: the legacy (pickle) format "
                              f"is damaged or cut short ({_first_sentence(exc)})") from exc
        raise ExportError(f"{path}: not a readable PyTorch file: {_first_sentence(exc)}") from exc


def _check_archive(path: Path) -> None:
    """A zip archive as torch.save writes it: complete, with its data.pkl record."""
    size = path.stat().st_size
    if not zipfile.is_zipfile(path):
        raise ExportError(f"{path}: cut short or damaged: the zip archive torch.save writes "
                          f"has no end record ({size} bytes; was the copy interrupted?)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExportError(f"{path}: damaged zip archive ({exc})") from exc
    if not any(name.endswith("/data.pkl") or name == "data.pkl" for name in names):
        raise ExportError(f"{path}: a zip archive, but not one torch.save wrote (no data.pkl)")


def _first_sentence(exc: BaseException) -> str:
    """The first sentence of an error's text, whole (library messages run on for lines)."""
    text = " ".join(str(exc).split())
    if " " not in text:  # a bare key or number says nothing without its kind
        return f"{type(exc).__name__} {text}".strip()
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]


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
        raise ExportError(f"the state_dict does not fit {arch_name}: {'; '.join(problems)}"
                          f"{_which_arch(state, arch_name)}")


def _which_arch(state: Mapping[str, torch.Tensor], given: str) -> str:
    """A hint naming the known architecture whose keys the file has, if not the one given."""
    from edge_models.archs import ARCHS  # the networks, built only on this error path

    keys = set(state)
    fits = {}
    for name, arch in ARCHS.items():
        channels = 1 if arch.defaults.channels == "gray" else 3
        expected = set(arch.build(len(arch.defaults.labels), channels).state_dict())
        fits[name] = len(keys & expected) / max(len(keys | expected), 1)
    best = max(fits, key=fits.get)
    if best != given and fits[best] >= 0.9:
        return f"; its keys are those of {best}: try --arch {best}"
    if best == given and fits[best] >= 0.5:
        return (f"; it has most of {given}'s keys but not all: another size or version of "
                f"the network than this tool's {given}?")
    return f"; it fits none of the known architectures ({', '.join(ARCHS)})"


def output_width(state: Mapping[str, torch.Tensor], head_key: str, default: int) -> int:
    """How many values the network outputs, read from its final layer's weight."""
    head = state.get(head_key)
    return int(head.shape[0]) if head is not None and head.dim() >= 1 else default


def input_channels(state: Mapping[str, torch.Tensor], stem_key: str, default: int) -> int:
    """How many channels the network takes, read from its first conv's weight."""
    stem = state.get(stem_key)
    return int(stem.shape[1]) if stem is not None and stem.dim() == 4 else default
