"""The WebSocket sink: an asyncio HTTP/WebSocket server on its own thread and event loop.

publish() runs on the camera threads. It does nothing while no stream client is connected;
otherwise it puts the result in a DropOldestQueue (no encoding, no waiting) and wakes the
server's loop with call_soon_threadsafe; when the loop falls behind, the oldest waiting
results are dropped and counted. The server (websockets'
asyncio API, which also answers plain HTTP through process_request) is bound at start; a
port that is taken is logged and retried in the background, like an unreachable broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve

from edge_daemon.config.websocket import WS_TOKEN_ENV, WebSocketConfig
from edge_daemon.core.backoff import Backoff
from edge_daemon.core.log_throttle import LogThrottle
from edge_daemon.core.queues import DropOldestQueue
from edge_daemon.core.records import Frame, FrameResult
from edge_daemon.core.stats import WebSocketStats
from edge_daemon.sinks.websocket.server import InboundApi, WebSocketServer

log = logging.getLogger(__name__)

START_WAIT_S = 5.0  # how long start() waits for the first bind attempt
MAX_PENDING = 256  # results waiting for the loop; beyond that the oldest are dropped
BIND_RETRY_MIN_S, BIND_RETRY_MAX_S = 2.0, 60.0
CLOSE_TIMEOUT_S = 2.0  # a client that does not answer the close is cut off after this
WRITE_LIMIT = 16 * 1024  # bytes buffered per connection before send() waits (see stream.py)


class WebSocketSetupError(ValueError):
    """The WebSocket server cannot be set up from this config (e.g. exposed without token)."""


class _QuietLibraryLog(logging.LoggerAdapter):
    """websockets logs every connection at info and handshake failures (port scanners,
    broken clients) with tracebacks; the daemon's journal gets them at debug only."""

    QUIET_ERRORS = ("opening handshake failed",)

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if level == logging.INFO or (level == logging.ERROR and msg in self.QUIET_ERRORS):
            level = logging.DEBUG
            if not self.logger.isEnabledFor(logging.DEBUG):
                return
        self.logger.log(level, msg, *args, **kwargs)


_NOT_ALLOWED = (b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"
                b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n"
                b"Connection: close\r\nServer: emotion-edge\r\n\r\nonly GET is served\n")


class _GetOnlyConnection(ServerConnection):
    """Answers any other method with 405 before websockets parses the request.

    websockets closes a request with a body (a POST with Content-Length) without any
    answer, so process_request's 405 never ran for those; the request line is all this
    needs to read.
    """

    _head = b""  # the first bytes, until the method is known
    _checked = False

    def data_received(self, data: bytes) -> None:
        """Check the method in the first bytes, then hand everything to websockets."""
        if not self._checked:
            self._head = (self._head + data)[:16]
            if b" " in self._head or len(self._head) >= 16:
                self._checked = True
                method = self._head.split(b" ", 1)[0]
                if method != b"GET" and method.isalpha():
                    self.transport.write(_NOT_ALLOWED)
                    self.transport.close()
                    return
        super().data_received(data)


class WebSocketSink:
    """Serves the results stream, the seed's protocol and the live page on one port."""

    name = "websocket"

    def __init__(self, config: WebSocketConfig, cameras: Sequence[str],
                 api: InboundApi, token: str | None = None) -> None:
        """api: what answers at `/` (the seed's protocol); token: required of clients."""
        if config.needs_token() and not token:
            raise WebSocketSetupError(
                f"websocket.host {config.host} is reachable from the network but no token "
                f"is set: set {WS_TOKEN_ENV} (or the systemd credential "
                f"{config.token_credential!r}), or set websocket.allow_unauthenticated: true")
        self.config = config
        self.stats = WebSocketStats()
        try:
            self.server = WebSocketServer(config, cameras, api, token, self.stats)
        except OSError as exc:  # the page's files are missing from the installation
            raise WebSocketSetupError(str(exc)) from None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._first_attempt = threading.Event()
        self._pending: DropOldestQueue[tuple[FrameResult, np.ndarray | None]] = DropOldestQueue(
            MAX_PENDING)
        self._drain_scheduled = False
        self._drain_lock = threading.Lock()
        self._preview_sent: dict[str, float] = {}
        self._bind_log = LogThrottle(300.0)
        self._deliver_log = LogThrottle(60.0)

    # ------------------------------------------------------------------ lifecycle
    def set_zones(self, zones: Mapping[str, Mapping[str, Mapping[str, list]]]) -> None:
        """The cameras' zones, which the live page draws (sent in the stream's hello)."""
        # Replaced whole: the event loop reads the reference, never a half-built dict.
        self.server.hub.zones = {camera: {kind: dict(polygons) for kind, polygons in z.items()}
                                 for camera, z in zones.items()}

    def start(self) -> None:
        """Start the server's thread and wait (briefly) for it to listen."""
        self._thread = threading.Thread(target=self._run, name="websocket", daemon=True)
        self._thread.start()
        self._first_attempt.wait(START_WAIT_S)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("the WebSocket server failed")
        finally:
            self._first_attempt.set()

    async def _main(self) -> None:
        stop = self._stop_event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        server = await self._bind(stop)
        if server is None:
            return
        try:
            await stop.wait()
        finally:
            self.stats.listening = False
            server.close()  # every connection gets a 1001 close
            try:
                await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT_S * 2)
            except asyncio.TimeoutError:
                log.warning("WebSocket clients did not close in time; cut off")
            self.server.shutdown()

    async def _bind(self, stop: asyncio.Event) -> Server | None:
        """The listening server, retrying while the port is taken; None when stopped first."""
        cfg = self.config
        backoff = Backoff(BIND_RETRY_MIN_S, BIND_RETRY_MAX_S)
        while not stop.is_set():
            try:
                server = await serve(
                    self.server.handle, cfg.host, cfg.port,
                    process_request=self.server.process_request,
                    max_size=cfg.max_message_bytes,
                    # The Pi's CPU is better spent on faces than on deflating small JSON.
                    compression=None,
                    close_timeout=CLOSE_TIMEOUT_S,
                    write_limit=WRITE_LIMIT,
                    server_header="emotion-edge",
                    create_connection=_GetOnlyConnection,
                    logger=_QuietLibraryLog(logging.getLogger(f"{__name__}.library"), {}),
                )
            except OSError as exc:
                held = self._bind_log.allow("bind")
                if held is not None:
                    log.error("WebSocket server cannot listen on %s:%d (%s); the cameras "
                              "run on and the server is retried in the background",
                              cfg.host, cfg.port, exc.strerror or exc)
                self._first_attempt.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff.next())
                continue
            self.stats.listening = True
            shown = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
            log.info("WebSocket server on http://%s:%d/ (live page; stream at /stream, seed "
                     "protocol at /)%s", shown, cfg.port,
                     "; token required" if self.server.token else "")
            self._first_attempt.set()
            return server
        return None

    @property
    def connected(self) -> None:
        """The server has no upstream link to report."""
        return None

    def stop(self, timeout: float) -> None:
        """Close every connection (1001) and the listening socket, within timeout seconds."""
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(stop_event.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("WebSocket server did not stop within %.1f s", timeout)

    # ------------------------------------------------------------------ results
    def publish(self, result: FrameResult, frame: Frame) -> None:
        """Hand a result (and, when a preview is due, its frame) to the server's loop."""
        loop = self._loop
        hub = self.server.hub
        if loop is None or not hub.client_count:
            return  # nobody listens: no work at all
        image = frame.image if hub.preview_watchers and self._preview_due(result) else None
        dropped = self._pending.push((result, image)) is not None
        with self._drain_lock:  # camera threads count here one at a time
            self.stats.results_dropped += dropped
            if self._drain_scheduled:
                return  # the drain already asked for takes this one too
            self._drain_scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (stopping)
            loop.call_soon_threadsafe(self._drain)

    def _preview_due(self, result: FrameResult) -> bool:
        # Each camera publishes from its own thread: no two threads touch the same key.
        now = time.monotonic()
        if now - self._preview_sent.get(result.camera, -1e9) < self.config.preview_interval_s:
            return False
        self._preview_sent[result.camera] = now
        return True

    def _drain(self) -> None:
        with self._drain_lock:
            self._drain_scheduled = False
        for result, image in self._pending.drain():
            self._deliver(result, image)

    def _deliver(self, result: FrameResult, image: np.ndarray | None) -> None:
        try:
            self.server.on_result(result, image)
        except Exception as exc:  # a bad result must not reach asyncio's handler per frame
            if self._deliver_log.allow(type(exc).__name__) is not None:
                log.error("camera %s: result not streamed: %s: %s", result.camera,
                          type(exc).__name__, exc)
