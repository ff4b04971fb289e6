"""Video files, for demos and tests: paced like a camera, optionally looping."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from edge_daemon.config.cameras import CameraConfig, FileSourceConfig
from edge_daemon.sources.capture import CaptureSource, SourceOpenError
from edge_daemon.sources.opencv import open_video_capture

log = logging.getLogger(__name__)

DEFAULT_FPS = 25.0  # for files whose container states no usable rate
MAX_LAG_S = 1.0  # fallen further behind than this (a slow machine): re-anchor the clock
# FFmpeg decodes with a thread per core by default. Up to this size one thread keeps up at
# camera rates and costs less CPU than handing frames between threads: 0.60 instead of 0.70 ms
# per 640x360 frame on the project's machine (issue 7). Bigger videos keep FFmpeg's default.
SINGLE_THREAD_MAX_PIXELS = 1280 * 720
# Like `tail -F` after a log rotation: the path is what is followed, not the open file. An
# open file that was deleted keeps playing from its inode; a new file at the path would
# never be seen. Checked by stat() once a second (a microsecond each).
FOLLOW_CHECK_S = 1.0


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at path now, None if there is none."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


class FileCapture:
    """Reads a video file; paces frames at its own rate and starts over at the end if asked."""

    def __init__(
        self, path: Path, loop: bool, realtime: bool, stopping: threading.Event
    ) -> None:
        self.path = path
        self.loop = loop
        self.realtime = realtime
        self.ended = False
        self._stopping = stopping
        self.capture = self._open()
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and 1.0 <= fps <= 240.0 else DEFAULT_FPS
        self._anchor = time.monotonic()
        self._paced = 0  # frames delivered since the anchor
        self._frames = 0  # frames read since the last start of the file
        self._checked = time.monotonic()

    def _open(self) -> cv2.VideoCapture:
        if not self.path.exists():
            raise SourceOpenError(f"cannot open video file {self.path}: no such file")
        if self.path.is_dir():
            raise SourceOpenError(f"cannot open video file {self.path}: it is a directory")
        if not os.access(self.path, os.R_OK):
            raise SourceOpenError(f"cannot open video file {self.path}: permission denied")
        self.identity = file_identity(self.path)
        what = f"video file {self.path}: not a video FFmpeg reads"
        threads = getattr(cv2, "CAP_PROP_N_THREADS", None)
        if threads is None:
            return open_video_capture(str(self.path), cv2.CAP_FFMPEG, what)
        capture = open_video_capture(str(self.path), cv2.CAP_FFMPEG, what, [threads, 1])
        size = capture.get(cv2.CAP_PROP_FRAME_WIDTH) * capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
        if size > SINGLE_THREAD_MAX_PIXELS:
            capture.release()
            capture = open_video_capture(str(self.path), cv2.CAP_FFMPEG, what)
        return capture

    def read(self) -> np.ndarray | None:
        """The next frame, at the video's pace; None at the end (ended) or on a decode error."""
        return self.retrieve() if self.grab() else None

    def grab(self) -> bool:
        """Decode the next frame, at the video's pace, without converting it to BGR.

        False at the end (ended), on a decode error, or when the file at the path was removed
        or replaced (the capture machinery then reopens the path, with backoff).
        """
        if self._path_changed():
            return False
        ok = self.capture.grab()
        if not ok and self.loop and self._frames > 0:
            self._rewind()
            ok = self.capture.grab()
        if not ok:
            # A file that gave frames and now gives none has reached its end; one that never
            # gave a frame is unreadable, which is a failure to retry, not an end.
            self.ended = self._frames > 0 and not self.loop
            return False
        self._frames += 1
        if self.realtime:
            self._pace()
        return True

    def _path_changed(self) -> bool:
        now = time.monotonic()
        if now - self._checked < FOLLOW_CHECK_S:
            return False
        self._checked = now
        current = file_identity(self.path)
        if current == self.identity:
            return False
        what = "removed" if current is None else "replaced by another file"
        log.info("video file %s was %s: reopening the path", self.path, what)
        return True

    def retrieve(self) -> np.ndarray | None:
        """The frame grabbed last, as a BGR image (None if it cannot be converted)."""
        ok, image = self.capture.retrieve()
        return image if ok and image is not None else None

    def _rewind(self) -> None:
        self._frames = 0
        if not self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
            self.capture.release()
            self.capture = self._open()

    def _pace(self) -> None:
        due = self._anchor + self._paced / self.fps
        wait = due - time.monotonic()
        if wait > 0:
            self._stopping.wait(wait)
        elif wait < -MAX_LAG_S:
            self._anchor, self._paced = time.monotonic(), 0
        self._paced += 1

    def release(self) -> None:
        """Close the file."""
        self.capture.release()


class FileSource(CaptureSource):
    """A video file that behaves like a camera (or, with realtime off, decodes flat out)."""

    kind: ClassVar[str] = "file"
    settings_type: ClassVar[type] = FileSourceConfig
    settings: FileSourceConfig

    def __init__(self, name: str, camera: CameraConfig) -> None:
        super().__init__(name, camera)
        self.lockstep = self.settings.every_frame

    def describe(self) -> str:
        """The file's path."""
        return f"video file {self.settings.path}"

    def open_capture(self) -> FileCapture:
        """Open the file."""
        s = self.settings
        return FileCapture(Path(s.path), s.loop, s.realtime, self._stopping)
