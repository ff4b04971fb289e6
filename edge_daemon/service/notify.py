"""The sd_notify protocol: tell systemd that the daemon is ready, reloading, stopping, alive.

Written here rather than taken from a library: the protocol is one datagram of `KEY=VALUE`
lines sent to the AF_UNIX socket named by `$NOTIFY_SOCKET` (an abstract-namespace socket
when the name starts with `@`), see sd_notify(3). The candidates were worse: `sdnotify`
(pure Python) has had no release since 2017 and hides send errors unless built in debug mode;
`systemd-python` ships only as a source package, so every device would need libsystemd's
headers and a C compiler; `cysystemd` is maintained but is a compiled binding to libsystemd,
one more aarch64 wheel to depend on for what is a single sendto(). A few lines of socket code,
tested against a real socket, are easier to keep right.

Everything is a no-op when `$NOTIFY_SOCKET` is absent (run from a shell, in a container, in
tests), so callers never need to ask whether systemd is there.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def notify_address(value: str) -> str | None:
    """The socket address for a `$NOTIFY_SOCKET` value; None when empty or not an AF_UNIX one."""
    if value.startswith("@"):
        # Abstract namespace: the leading '@' stands for the NUL byte of the real address.
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    if value:
        # systemd >= 253 may hand VMs a "vsock:" address; nothing on our devices does that.
        log.warning("NOTIFY_SOCKET=%r is not an AF_UNIX socket: not notifying systemd", value)
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """WatchdogSec= in seconds from `$WATCHDOG_USEC`, or None when no watchdog is meant for pid."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    # WATCHDOG_PID names the process the watchdog is for; a child that inherited it is not.
    if owner and owner != str(pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


class SystemdNotifier:
    """Sends service state changes to systemd over `$NOTIFY_SOCKET`; a no-op without it."""

    def __init__(self, environ: Mapping[str, str] | None = None, pid: int | None = None) -> None:
        environ = os.environ if environ is None else environ
        pid = os.getpid() if pid is None else pid
        self._address = notify_address(environ.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval: float | None = None
        """WatchdogSec= in seconds when systemd expects WATCHDOG=1 pings from us, else None."""
        self._socket: socket.socket | None = None
        self._warned = False
        if self._address is not None:
            self.watchdog_interval = watchdog_interval(environ, pid)
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notification socket."""
        return self._socket is not None

    def send(self, *assignments: str) -> bool:
        """Send `KEY=VALUE` assignments in one datagram; True when systemd got it."""
        if self._socket is None or self._address is None:
            return False
        payload = "\n".join(assignments).encode("utf-8")
        try:
            self._socket.sendto(payload, self._address)
        except OSError as exc:
            # Never fatal: the daemon's job matters more than telling systemd about it.
            if not self._warned:
                log.warning("cannot notify systemd at %r: %s", self._address, exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up (or a reload) is complete: models loaded, cameras open or retrying."""
        return self.send("READY=1", *_status_line(status))

    def status(self, text: str) -> bool:
        """A one-line summary that `systemctl status` shows (fps per camera, MQTT state)."""
        return self.send(*_status_line(text))

    def reloading(self) -> bool:
        """A reload (SIGHUP) began; follow with ready() once it is done."""
        # MONOTONIC_USEC lets systemd (>= 253) tell this reload from an earlier one.
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={now_usec}")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown began: systemd stops expecting watchdog pings and waits TimeoutStopSec."""
        return self.send("STOPPING=1", *_status_line(status))

    def watchdog(self) -> bool:
        """The keep-alive ping; send it from the loop that does the work (see LoopWatchdog)."""
        return self.send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time to start, reload or stop (a slow model warm-up on a small board)."""
        return self.send(f"EXTEND_TIMEOUT_USEC={round(seconds * 1_000_000)}")

    def close(self) -> None:
        """Close the socket; later calls are no-ops."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _status_line(text: str | None) -> tuple[str, ...]:
    """A STATUS= assignment on one line (a newline would end the assignment early)."""
    if text is None:
        return ()
    return ("STATUS=" + " ".join(text.splitlines()),)
