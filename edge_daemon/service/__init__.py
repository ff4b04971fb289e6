"""Running under systemd: the sd_notify protocol and a watchdog fed by the processing loops."""

from .notify import SystemdNotifier
from .watchdog import LoopWatchdog

__all__ = ["LoopWatchdog", "SystemdNotifier"]
