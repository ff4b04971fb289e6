"""Running the daemon as a service: signals, systemd notifications, the watchdog, reloads.

SIGTERM and SIGINT stop it cleanly. SIGHUP (the unit's ExecReload=) re-reads the config in
the same process: an invalid new config is logged and the running one kept; a valid one
replaces the cameras and models, and the MQTT connection is kept open when its settings did
not change (otherwise it is closed and opened with the new ones).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from edge_daemon.app import App, StartupError
from edge_daemon.config.errors import ConfigError
from edge_daemon.config.loader import load_config
from edge_daemon.config.root import Config
from edge_daemon.logging_setup import configure_logging
from edge_daemon.service import LoopWatchdog, SystemdNotifier

log = logging.getLogger(__name__)


class DaemonRunner:
    """Owns the running App and swaps it on reload; run() blocks until the daemon ends."""

    def __init__(self, config_path: Path, config: Config, log_level: str | None) -> None:
        self.config_path = config_path
        self.log_level = log_level  # from the command line: wins over the config's
        self.notifier = SystemdNotifier()
        self.watchdog = LoopWatchdog(self.notifier.watchdog, self.notifier.watchdog_interval)
        self.app = App(config, on_loop_iteration=self.watchdog.beat)  # StartupError: caller
        self._wake = threading.Event()
        self._stop_requested = False
        self._reload_requested = False

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested = True
        else:
            log.info("%s received; stopping", signal.Signals(signum).name)
            self._stop_requested = True
        self._wake.set()

    def run(self) -> bool:
        """Serve until stopped or every camera ended; False if a capture thread is stuck.

        Raises StartupError when a reload leaves nothing that can run.
        """
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self._start_app()
        self.watchdog.start()
        try:
            while True:
                self.app.wait(self._wake, on_loop_done=self.watchdog.unregister,
                              on_status=self.notifier.status)
                if self._stop_requested or not self._wake.is_set():
                    break  # stopped, or every camera has finished
                self._wake.clear()
                self._reload_requested = False
                self._reload()
        finally:
            self.notifier.stopping("stopping")
            self.watchdog.stop()
            clean = self.app.stop()
            self.notifier.close()
        return clean

    def _start_app(self) -> None:
        for loop in self.app.loops:
            if not self.app.privacy[loop.name]:  # a closed camera's loop does not beat
                self.watchdog.register(loop.name)
        self.app.start()
        self.notifier.ready(f"running {len(self.app.loops)} camera(s)")

    def _reload(self) -> None:
        log.info("SIGHUP received; reloading %s", self.config_path)
        self.notifier.reloading()
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload refused, the running configuration stays: %s",
                      "; ".join(str(p) for p in exc.problems))
            self.notifier.ready("reload refused: invalid configuration")
            return
        old = self.app
        # The sinks know the model's labels and their own settings (broker, metrics port,
        # snapshot directory, WebSocket server): keep them only when none of these changed.
        keep_sinks = (config.mqtt, config.secrets, config.classifier, config.metrics,
                      config.snapshots, config.websocket) == (
            old.config.mqtt, old.config.secrets, old.config.classifier, old.config.metrics,
            old.config.snapshots, old.config.websocket)
        old.stop(keep_sinks=keep_sinks)
        for loop in old.loops:
            self.watchdog.unregister(loop.name)
        sinks = old.sinks if keep_sinks else None
        try:
            self.app = App(config, on_loop_iteration=self.watchdog.beat, sinks=sinks)
        except StartupError as exc:
            log.error("reload failed (%s); going back to the previous configuration", exc)
            # If even that fails now (its model file removed meanwhile), StartupError ends
            # the daemon with exit code 1.
            self.app = App(old.config, on_loop_iteration=self.watchdog.beat, sinks=sinks)
        if not self.log_level:
            configure_logging(self.app.config.logging.level)
        self._start_app()
        log.info("reloaded: %d camera(s)%s", len(self.app.loops),
                 ", MQTT connection kept" if keep_sinks else "")
