"""Logging under systemd: `<N>` priority per line, no timestamp; timestamps elsewhere."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_daemon.logging_setup import configure_logging, stream_is_journal, syslog_priority


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    # A command run in-process earlier (emotion-edge-export) may have set our package's level.
    package = logging.getLogger("edge_daemon")
    package_level = package.level
    package.setLevel(logging.NOTSET)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    package.setLevel(package_level)


def journal_env(path: Path) -> dict[str, str]:
    info = os.stat(path)
    return {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}


def log_sample() -> None:
    log = logging.getLogger("edge_daemon.sample")
    log.debug("debug detail")
    log.info("camera %s opened", "front")
    log.warning("broker down")
    try:
        raise RuntimeError("inference failed")
    except RuntimeError:
        log.exception("frame dropped")


def test_journal_stream_gets_a_priority_on_every_line_and_no_timestamp(
    tmp_path, restore_root_logger
):
    path = tmp_path / "journal"
    with path.open("w") as stream:
        configure_logging("info", stream=stream, environ=journal_env(path))
        log_sample()
        stream.flush()
    lines = path.read_text().splitlines()
    assert lines[0] == "<6>edge_daemon.sample: camera front opened"
    assert lines[1] == "<4>edge_daemon.sample: broker down"
    assert lines[2] == "<3>edge_daemon.sample: frame dropped"
    # The traceback keeps the error priority line by line (journald splits at newlines).
    assert lines[3] == "<3>Traceback (most recent call last):"
    assert lines[-1] == "<3>RuntimeError: inference failed"
    assert all(re.match(r"<[0-7]>", line) for line in lines)
    assert not any(re.search(r"\d\d:\d\d:\d\d", line) for line in lines)
    assert "debug detail" not in path.read_text()


def test_terminal_gets_timestamps_and_no_priority_prefix(tmp_path, restore_root_logger):
    path, other = tmp_path / "terminal", tmp_path / "other"
    other.write_text("")
    with path.open("w") as stream:
        # JOURNAL_STREAM inherited from a parent but naming another file: not the journal.
        configure_logging("debug", stream=stream, environ=journal_env(other))
        log_sample()
    lines = path.read_text().splitlines()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} DEBUG +edge_daemon.sample: debug detail",
                    lines[0])
    assert not any(line.startswith("<") for line in lines)


def test_configuring_twice_keeps_one_handler(tmp_path, restore_root_logger):
    with (tmp_path / "log").open("w") as stream:
        configure_logging("info", stream=stream, environ={})
        configure_logging("warning", stream=stream, environ={})
        ours = [h for h in logging.getLogger().handlers if getattr(h, "_emotion_edge", False)]
        assert len(ours) == 1
        assert logging.getLogger().level == logging.WARNING


def test_unknown_level_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure_logging("loud", environ={})


def test_stream_without_file_descriptor_is_not_the_journal():
    import io

    assert stream_is_journal(io.StringIO(), {"JOURNAL_STREAM": "1:2"}) is False


@pytest.mark.parametrize(
    ("level", "priority"),
    [(logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6),
     (logging.DEBUG, 7), (5, 7)],
)
def test_syslog_priorities(level, priority):
    assert syslog_priority(level) == priority
