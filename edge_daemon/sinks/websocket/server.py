"""Routing of the HTTP/WebSocket server: who may connect to what, and who serves it.

One port serves everything. Plain HTTP GET: the live page (`/`, `/live`) and its files,
`/labels` and `/status` (JSON). WebSocket: `/stream` (results) and `/` (the seed's
protocol, where the seed's client connects). Everything runs on the server's event loop;
inference and image encoding run in small thread pools.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.protocol import State

from edge_daemon.config.websocket import WebSocketConfig
from edge_daemon.core.log_throttle import LogThrottle
from edge_daemon.core.records import FrameResult
from edge_daemon.core.stats import WebSocketStats
from edge_daemon.sinks.websocket.page import StaticFile, load_page_files
from edge_daemon.sinks.websocket.preview import preview_message
from edge_daemon.sinks.websocket.stream import StreamHub

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 60.0
PAGE_SECURITY = {
    # Everything the page needs comes from this server; no CDN, no inline script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # The page URL may carry ?token=: never hand it to another site.
    "Referrer-Policy": "no-referrer",
}
ENDPOINTS = "/ (live page), /stream and / (WebSocket), /labels, /status"


def http_response(status: http.HTTPStatus, body: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> Response:
    """A complete HTTP response (the connection is closed after it)."""
    all_headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-cache"), ("Connection", "close")])
    for name, value in (headers or {}).items():
        all_headers[name] = value
    return Response(status.value, status.phrase, all_headers, body)


def text_response(status: http.HTTPStatus, text: str,
                  headers: dict[str, str] | None = None) -> Response:
    """A one-line plain-text response."""
    return http_response(status, (text + "\n").encode(), "text/plain; charset=utf-8", headers)


def json_response(payload: object) -> Response:
    """A JSON response (200)."""
    return http_response(http.HTTPStatus.OK, json.dumps(payload).encode(),
                         "application/json", {"Cache-Control": "no-store"})


def _is_upgrade(request: Request) -> bool:
    return "websocket" in request.headers.get("Upgrade", "").lower()


def _given_token(request: Request, query: dict[str, list[str]]) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    values = query.get("token")
    return values[-1] if values else None


class InboundApi(Protocol):
    """A request/answer API the server hosts at `/` (the seed's protocol: seed_api)."""

    @property
    def labels(self) -> Sequence[str]:
        """The emotion model's labels (also served at /labels)."""
        ...

    @property
    def model_name(self) -> str:
        """The emotion model's name (served at /labels)."""
        ...

    async def serve(self, connection: ServerConnection, stats: WebSocketStats) -> None:
        """Serve one admitted connection until it closes, counting into stats."""
        ...

    def shutdown(self) -> None:
        """Release the API's threads."""
        ...


class WebSocketServer:
    """What the server does per request and connection (used on its event loop only)."""

    def __init__(self, config: WebSocketConfig, cameras: Sequence[str],
                 api: InboundApi, token: str | None,
                 stats: WebSocketStats) -> None:
        self.config = config
        self.api = api
        self.token = token
        self.stats = stats
        self.hub = StreamHub(cameras, api.labels, config.preview,
                             config.client_queue_size, stats)
        self.files: dict[str, StaticFile] = load_page_files()
        self.preview_pool = ThreadPoolExecutor(1, thread_name_prefix="ws-preview")
        self._previews_in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until done
        self._admitted: set[ServerConnection] = set()
        self._log = LogThrottle(LOG_INTERVAL_S)

    # ------------------------------------------------------------------ the handshake
    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer plain HTTP requests; refuse or admit WebSocket handshakes (None: admit)."""
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if getattr(request, "method", "GET") != "GET":
            return text_response(http.HTTPStatus.METHOD_NOT_ALLOWED, "only GET is served",
                                 {"Allow": "GET"})
        if not _is_upgrade(request):
            return self._http(url.path, request, query)
        if url.path not in ("/", "/stream"):
            return text_response(http.HTTPStatus.NOT_FOUND,
                                 f"no WebSocket endpoint {url.path}; endpoints: {ENDPOINTS}")
        refusal = self._refusal(connection, request, query, stream=url.path == "/stream")
        if refusal is not None:
            return refusal
        self._admitted.add(connection)
        return None

    def _http(self, path: str, request: Request, query: dict[str, list[str]]) -> Response:
        page_file = self.files.get(path)
        if page_file is not None:  # the same files everywhere, no data: no token needed
            return http_response(http.HTTPStatus.OK, page_file.body, page_file.content_type,
                                 PAGE_SECURITY)
        if path in ("/labels", "/status"):
            refusal = self._unauthorized(request, query)
            if refusal is not None:
                return refusal
            if path == "/labels":
                return json_response({"labels": list(self.api.labels),
                                      "model": self.api.model_name})
            return json_response({**self.stats.as_dict(), "cameras": self.hub.cameras,
                                  "clients": self._client_list()})
        if path == "/stream":
            return text_response(http.HTTPStatus.UPGRADE_REQUIRED,
                                 "/stream is a WebSocket endpoint: connect with a WebSocket "
                                 "client", {"Upgrade": "websocket"})
        return text_response(http.HTTPStatus.NOT_FOUND, f"no page {path}; try {ENDPOINTS}")

    def _refusal(self, connection: ServerConnection, request: Request,
                 query: dict[str, list[str]], stream: bool) -> Response | None:
        refusal = self._unauthorized(request, query)
        if refusal is not None:
            return refusal
        if stream and self.token is None and self._cross_site(request):
            # Any web page a local user visits could otherwise read the results through
            # that user's browser. The seed endpoint stays open to other origins: the
            # seed's client is served from its own origin (e.g. http://localhost:3000).
            return text_response(http.HTTPStatus.FORBIDDEN,
                                 "cross-origin stream connections need a token "
                                 "(websocket token not configured)")
        if stream:
            camera = query.get("camera", [None])[-1]
            if camera is not None and not self.hub.knows(camera):
                return text_response(http.HTTPStatus.NOT_FOUND,
                                     f"unknown camera {camera!r}; cameras: "
                                     f"{', '.join(self.hub.cameras)}")
        self._admitted = {c for c in self._admitted if c.protocol.state is not State.CLOSED}
        if len(self._admitted) >= self.config.max_clients:
            self.stats.refused_full += 1
            if self._log.allow("full") is not None:
                log.warning("WebSocket client refused: %d clients already connected "
                            "(websocket.max_clients)", len(self._admitted))
            return text_response(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                 f"too many clients (websocket.max_clients is "
                                 f"{self.config.max_clients})", {"Retry-After": "5"})
        return None

    def _unauthorized(self, request: Request, query: dict[str, list[str]]) -> Response | None:
        if self.token is None:
            return None
        given = _given_token(request, query)
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            return None
        self.stats.refused_unauthorized += 1
        if given is None:
            return text_response(http.HTTPStatus.UNAUTHORIZED,
                                 "a token is required: send 'Authorization: Bearer <token>' "
                                 "or add ?token=<token> to the URL",
                                 {"WWW-Authenticate": 'Bearer realm="emotion-edge"'})
        if self._log.allow("token") is not None:
            log.warning("WebSocket request with a wrong token refused (from %s)",
                        request.headers.get("X-Forwarded-For", "a client"))
        return text_response(http.HTTPStatus.FORBIDDEN, "wrong token")

    @staticmethod
    def _cross_site(request: Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return False  # not a browser
        return urlsplit(origin).netloc.lower() != request.headers.get("Host", "").lower()

    def _client_list(self) -> list[dict[str, object]]:
        return [{"camera": c.camera, "preview": c.preview, "sent": c.sent,
                 "skipped": c.skipped, "queued": len(c.queue)} for c in self.hub.clients]

    # ------------------------------------------------------------------ connections
    async def handle(self, connection: ServerConnection) -> None:
        """Serve an admitted WebSocket connection until it closes."""
        url = urlsplit(connection.request.path if connection.request else "/")
        query = parse_qs(url.query)
        try:
            if url.path == "/stream":
                preview = query.get("preview", ["0"])[-1].lower() in ("1", "true", "yes")
                await self.hub.serve(connection, query.get("camera", [None])[-1], preview)
            else:
                await self.api.serve(connection, self.stats)
        finally:
            self._admitted.discard(connection)

    # ------------------------------------------------------------------ results
    def on_result(self, result: FrameResult, image: np.ndarray | None) -> None:
        """Fan one result out to the stream (and a preview of its frame, when given)."""
        self.hub.deliver(result)
        if image is not None and result.camera not in self._previews_in_flight:
            self._previews_in_flight.add(result.camera)
            task = asyncio.get_running_loop().create_task(
                self._preview(result.camera, result.frame_index, image))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _preview(self, camera: str, frame_index: int, image: np.ndarray) -> None:
        cfg = self.config
        try:
            text = await asyncio.get_running_loop().run_in_executor(
                self.preview_pool, preview_message, camera, frame_index, image,
                cfg.preview_width, cfg.preview_quality)
        except Exception as exc:
            if self._log.allow("preview") is not None:
                log.error("preview of camera %s failed: %s: %s", camera,
                          type(exc).__name__, exc)
            return
        finally:
            self._previews_in_flight.discard(camera)
        self.hub.deliver_preview(camera, text)

    def shutdown(self) -> None:
        """Stop the thread pools (work in hand is abandoned)."""
        self.api.shutdown()
        self.preview_pool.shutdown(wait=False, cancel_futures=True)
