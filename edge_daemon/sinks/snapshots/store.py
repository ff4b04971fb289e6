"""The snapshot directory on disk: private, atomic, never overwritten, and kept in bounds.

A sample is a few files sharing one key, `<UTC time>_<camera>_<emotion>`:
`20250314T101502.123Z_front_door_happy_face0.jpg`, `..._frame.jpg` and the sidecar
`....json`, written last. The key starts with the capture time, so names sort by time.

- Each file is written to a temporary file in the same directory, flushed to the disk, then
  renamed over its final name: a crash leaves either the whole file or none (and a stale
  temporary file, removed at the next start). The directory is synced after the renames.
- A key already on disk (the clock stepped back) gets `-1`, `-2`, ... appended: no sample
  ever replaces another.
- Retention deletes whole samples, oldest first, when they are older than the age limit or
  when all samples together exceed the size limit. Only files named like samples are ever
  counted or deleted; anything else in the directory is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

SIDECAR = ".json"
_SAMPLE_FILE = re.compile(
    r"^(?P<key>\d{8}T\d{6}\.\d{3}Z_[A-Za-z0-9_-]+?)(?:_face\d+\.jpg|_frame\.jpg|\.json)$")
_TEMP_FILE = re.compile(r"^\..+\.tmp$")
_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


def sample_key(timestamp: float, camera: str, emotion: str) -> str:
    """`<UTC time, ms>Z_<camera>_<emotion>`: sortable by time, readable, safe as a file name."""
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    when = moment.strftime("%Y%m%dT%H%M%S") + f".{moment.microsecond // 1000:03d}Z"
    return f"{when}_{camera}_{_UNSAFE.sub('-', emotion) or 'none'}"


@dataclass
class StoredSample:
    """One sample on disk: its files, their total size and its newest modification time."""

    key: str
    files: list[str] = field(default_factory=list)
    size: int = 0
    mtime: float = 0.0


def write_atomic(path: Path, data: bytes) -> None:
    """Write data to path via a synced temporary file and a rename (mode 0600)."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp creates it 0600
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def sync_directory(directory: Path) -> None:
    """Make the renames in directory durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotStore:
    """The samples in one directory, indexed in memory, with the retention limits."""

    def __init__(self, directory: Path, max_age_s: float | None, max_bytes: int) -> None:
        self.directory = directory
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._index: dict[str, StoredSample] = {}
        self._warned_mode = False

    @property
    def stored_samples(self) -> int:
        """Samples on disk (as far as the index knows)."""
        return len(self._index)

    @property
    def stored_bytes(self) -> int:
        """Bytes the samples on disk take."""
        return sum(s.size for s in self._index.values())

    def prepare(self) -> None:
        """Create the directory (0700) if missing, clear stale temporary files, index samples."""
        directory = self.directory
        if os.path.lexists(directory) and not directory.is_dir():
            # Never touch what the daemon did not make: a file (or a dangling link) there is
            # the user's, and its mode stays theirs.
            raise NotADirectoryError(errno.ENOTDIR, "it exists and is not a directory",
                                     str(directory))
        if not directory.is_dir():
            directory.parent.mkdir(parents=True, exist_ok=True)
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:
                pass  # made meanwhile by someone else: theirs, left as it is
            else:
                os.chmod(directory, 0o700)  # whatever the umask
                log.info("snapshots: created %s (mode 0700)", directory)
        mode = stat.S_IMODE(directory.stat().st_mode)
        if mode & 0o077 and not self._warned_mode:
            self._warned_mode = True
            log.warning("snapshots: %s is open to other users (mode %04o); faces are personal "
                        "data: chmod 700 it", directory, mode)
        self.rescan(remove_temp=True)

    def rescan(self, remove_temp: bool = False) -> None:
        """Rebuild the index from the directory (files deleted by hand drop out of it)."""
        index: dict[str, StoredSample] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if remove_temp and _TEMP_FILE.match(entry.name):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                    continue
                match = _SAMPLE_FILE.match(entry.name)
                if match is None or not entry.is_file(follow_symlinks=False):
                    continue
                info = entry.stat(follow_symlinks=False)
                sample = index.setdefault(match["key"], StoredSample(match["key"]))
                sample.files.append(entry.name)
                sample.size += info.st_size
                sample.mtime = max(sample.mtime, info.st_mtime)
        self._index = index

    def unique_key(self, key: str, suffixes: list[str]) -> str:
        """key, or key-1, key-2, ... if a file of that name already exists."""
        candidate, n = key, 0
        while candidate in self._index or any(
                (self.directory / (candidate + s)).exists() for s in suffixes):
            n += 1
            candidate = f"{key}-{n}"
        return candidate

    def write(self, key: str, members: list[tuple[str, bytes]]) -> None:
        """Write one sample's files (the last one commits it); on failure remove what was written.

        Raises OSError (disk full, read-only file system, directory gone, ...).
        """
        written: list[Path] = []
        try:
            for suffix, data in members:
                path = self.directory / (key + suffix)
                write_atomic(path, data)
                written.append(path)
            sync_directory(self.directory)
        except BaseException:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        sample = StoredSample(key, [p.name for p in written])
        for path in written:
            info = path.stat()
            sample.size += info.st_size
            sample.mtime = max(sample.mtime, info.st_mtime)
        self._index[key] = sample

    def enforce(self, now: float) -> dict[str, int]:
        """Delete samples past the age limit, then the oldest until under the size limit."""
        deleted = {"age": 0, "size": 0}
        oldest_first = sorted(self._index.values(), key=lambda s: (s.mtime, s.key))
        total = sum(s.size for s in oldest_first)
        for sample in oldest_first:
            if self.max_age_s is not None and now - sample.mtime > self.max_age_s:
                reason = "age"
            elif total > self.max_bytes:
                reason = "size"
            else:
                break  # sorted by time: everything after this is newer and within limits
            self._delete(sample)
            total -= sample.size
            deleted[reason] += 1
        return deleted

    def _delete(self, sample: StoredSample) -> None:
        for name in sample.files:
            try:
                (self.directory / name).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.debug("snapshots: cannot delete %s: %s", name, exc)
        self._index.pop(sample.key, None)
