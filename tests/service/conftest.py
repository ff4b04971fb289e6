"""Fixtures for the systemd side: a real notify socket that plays systemd's part."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "network: needs PyPI (CI has it)")


@dataclass(frozen=True)
class Notification:
    """One datagram systemd received: its fields and when it arrived (monotonic seconds)."""

    fields: dict[str, str]
    at: float


class NotifyListener:
    """The receiving end of $NOTIFY_SOCKET: an AF_UNIX datagram socket, as PID 1 has."""

    def __init__(self, address: str) -> None:
        self.address = address  # what goes into NOTIFY_SOCKET ('@name' = abstract namespace)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind("\0" + address[1:] if address.startswith("@") else address)
        self.received: list[Notification] = []

    def collect(self, seconds: float, count: int | None = None) -> list[Notification]:
        """What arrives within seconds, or the first count datagrams (also kept in received)."""
        end = time.monotonic() + seconds
        got: list[Notification] = []
        while (left := end - time.monotonic()) > 0 and (count is None or len(got) < count):
            self._socket.settimeout(left)
            try:
                data = self._socket.recv(4096)
            except TimeoutError:
                break
            lines = data.decode("utf-8").split("\n")
            fields = dict(line.split("=", 1) for line in lines)
            got.append(Notification(fields, time.monotonic()))
        self.received.extend(got)
        return got

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def notify_listener() -> Iterator[NotifyListener]:
    """A notify socket on a file path (short: AF_UNIX paths end at 108 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="ee-notify-"))
    listener = NotifyListener(str(directory / "notify.sock"))
    yield listener
    listener.close()
    shutil.rmtree(directory)


@pytest.fixture
def abstract_notify_listener() -> Iterator[NotifyListener]:
    """A notify socket in the abstract namespace ('@name'), as systemd in a container uses."""
    listener = NotifyListener(f"@emotion-edge-test-{uuid.uuid4().hex}")
    yield listener
    listener.close()
