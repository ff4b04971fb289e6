"""Log format for a terminal and for the systemd journal.

Under systemd, stderr is a stream into journald, which stamps every line with the time and
the unit itself; a second timestamp in the text is noise. journald also reads a `<N>` syslog
priority prefix at the start of each line (sd-daemon(3)), so `journalctl -p warning` and the
colours work. systemd announces the journal stream in `$JOURNAL_STREAM` as `device:inode`;
comparing it with stderr's own device and inode (as systemd.exec(5) advises) avoids taking a
redirected stderr, or one inherited by a child, for the journal.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from edge_daemon.core.redaction import redact

TERMINAL_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(name)s: %(message)s"

# Python levels to syslog priorities (sd-daemon(3) SD_* values).
_PRIORITIES = (
    (logging.CRITICAL, 2),  # SD_CRIT
    (logging.ERROR, 3),  # SD_ERR
    (logging.WARNING, 4),  # SD_WARNING
    (logging.INFO, 6),  # SD_INFO
)
_DEBUG_PRIORITY = 7  # SD_DEBUG


def syslog_priority(levelno: int) -> int:
    """The syslog priority (0 = emergency .. 7 = debug) for a Python logging level."""
    for threshold, priority in _PRIORITIES:
        if levelno >= threshold:
            return priority
    return _DEBUG_PRIORITY


def stream_is_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when stream is the journal stream that `$JOURNAL_STREAM` (device:inode) names."""
    environ = os.environ if environ is None else environ
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        info = os.fstat(stream.fileno())
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (AttributeError, OSError, ValueError):
        # No real file descriptor (pytest's capture, io.StringIO) or a malformed variable.
        return False


class JournalFormatter(logging.Formatter):
    """`<N>logger: message` with the priority prefix on every line (tracebacks too)."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The record without a timestamp, each line prefixed with its syslog priority."""
        prefix = f"<{syslog_priority(record.levelno)}>"
        # journald splits the stream at newlines: an unprefixed traceback line would be
        # logged at the unit's default priority (info) and drop out of `journalctl -p err`.
        lines = super().format(record).splitlines() or [""]
        return "\n".join(prefix + line for line in lines)


class SecretRedactor(logging.Filter):
    """A handler filter: no secret leaves the process in a log line, at any level."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (and traceback text) with its secrets masked."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def configure_logging(
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Send all logging to stream (stderr) in the journal's format under systemd, else timed."""
    stream = sys.stderr if stream is None else stream
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ValueError(f"unknown log level {level!r}")
        level = number
    handler = logging.StreamHandler(stream)
    if stream_is_journal(stream, environ):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter(TERMINAL_FORMAT))
    handler.addFilter(SecretRedactor())
    handler._emotion_edge = True  # type: ignore[attr-defined]  # marks ours for reconfiguring
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_emotion_edge", False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
