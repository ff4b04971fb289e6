"""Running under systemd: the sd_notify protocol and a watchdog fed by the processing loops."""

from edge_daemon.service.notify import SystemdNotifier
from edge_daemon.service.watchdog import LoopWatchdog

__all__ = ["LoopWatchdog", "SystemdNotifier"]
