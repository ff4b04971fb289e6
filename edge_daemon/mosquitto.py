"""A throw-away mosquitto on a free loopback port, for the frame-to-MQTT measurement."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
HOST = "127.0.0.1"


class BrokerError(RuntimeError):
    """No broker was given and none could be started here."""


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def find_mosquitto() -> str | None:
    """The mosquitto binary, if installed."""
    for path in MOSQUITTO_PATHS:
        if Path(path).is_file():
            return path
    return shutil.which("mosquitto")


def wait_listening(process: subprocess.Popen, host: str, port: int, timeout_s: float) -> bool:
    """Whether process came to accept TCP connections on host:port within timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def terminate(process: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """SIGTERM (a persistent broker then saves its database); SIGKILL if that is ignored."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout_s)


class LocalBroker:
    """mosquitto on 127.0.0.1:<free port>, anonymous, no persistence; stop() removes it all."""

    host = HOST

    def __init__(self, timeout_s: float = 5.0) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise BrokerError("no MQTT broker given (--mqtt-host/--mqtt-port) and no mosquitto "
                              "binary found (apt install mosquitto)")
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="emotion-edge-bench-broker-")
        config = Path(self._dir.name) / "mosquitto.conf"
        config.write_text(f"listener {self.port} {HOST}\nallow_anonymous true\n"
                          f"persistence false\nuser {getpass.getuser()}\nlog_dest none\n")
        self._command = [binary, "-c", str(config)]
        self.process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self._wait_ready(timeout_s)

    def pause(self) -> None:
        """Stop the broker process, keeping its port and folder (an outage)."""
        terminate(self.process)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def resume(self, timeout_s: float = 5.0) -> None:
        """Start the broker again on the same port."""
        self.process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        if wait_listening(self.process, HOST, self.port, timeout_s):
            return
        err = b""
        if self.process.poll() is not None and self.process.stderr is not None:
            err = self.process.stderr.read()
        self.stop()
        first = err.decode(errors="replace").strip().splitlines()[:1] or ["no output"]
        raise BrokerError(f"mosquitto did not start on port {self.port}: {first[0]}")

    def stop(self) -> None:
        """Terminate the broker and delete its folder."""
        terminate(self.process)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self._dir.cleanup()
