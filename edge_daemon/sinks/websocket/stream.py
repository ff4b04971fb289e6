"""The results stream: every processed frame's result to every subscribed client, newest first.

Messages are JSON text. A results message is byte for byte the MQTT results message
(mqtt_payloads.results_payload, encoded once for all clients). Other messages carry a
`type`: `hello` (first, with the labels and cameras), `preview` (a downscaled JPEG of a
frame, only with preview enabled and asked for) and `skipped` (how many results this
client lost because it read too slowly).

Each client has its own bounded queue, filled on the event loop and emptied by its own
sender task: a client that reads slowly loses its oldest queued results (counted) and gets
the newest; it never holds up the pipeline or the other clients.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from edge_daemon import __version__
from edge_daemon.core.log_throttle import LogThrottle
from edge_daemon.core.queues import DropOldestQueue
from edge_daemon.core.records import FrameResult
from edge_daemon.core.stats import WebSocketStats
from edge_daemon.sinks.results_json import encode, results_payload

SKIPPED_NOTICE_INTERVAL_S = 1.0
# Bytes the kernel may hold for a stream client (Linux doubles it): small, so that a stalled
# client's backlog stays in its queue, where the oldest is dropped, instead of seconds of
# stale results in socket buffers. Still about 0.6 MB/s at a 50 ms round trip.
STREAM_SEND_BUFFER = 16 * 1024


def compact(payload: dict[str, object]) -> str:
    """Compact JSON text (the stream's own messages)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


class StreamClient:
    """One stream connection: its filter, its bounded queue and what it was sent."""

    def __init__(self, connection: ServerConnection, camera: str | None, preview: bool,
                 queue_size: int) -> None:
        self.connection = connection
        self.camera = camera  # None: every camera
        self.preview = preview
        self.queue: DropOldestQueue[str] = DropOldestQueue(queue_size)
        self.previews: dict[str, str] = {}  # camera -> newest unsent preview message
        self.ready = asyncio.Event()
        self.sent = 0
        self.skipped = 0
        self._reported = 0
        self._notices = LogThrottle(SKIPPED_NOTICE_INTERVAL_S)  # notices to the client

    def wants(self, camera: str) -> bool:
        """Whether this client subscribed to a camera."""
        return self.camera is None or self.camera == camera

    def offer(self, text: str) -> bool:
        """Queue a results message; True when the oldest queued one had to go."""
        full = self.queue.push(text) is not None
        if full:
            self.skipped += 1
        self.ready.set()
        return full

    def offer_preview(self, camera: str, text: str) -> None:
        """Queue a preview, replacing an unsent older one of the same camera."""
        self.previews[camera] = text
        self.ready.set()

    def _next(self) -> tuple[str, str] | None:
        """(kind, text) of the next message to send: a skip notice, a result, a preview."""
        if self.skipped > self._reported and self._notices.allow() is not None:
            notice = compact({"type": "skipped", "skipped": self.skipped - self._reported,
                              "skipped_total": self.skipped})
            self._reported = self.skipped
            return "skipped", notice
        text = self.queue.get(timeout=0.0) if len(self.queue) else None
        if text is not None:
            return "results", text
        if self.previews:
            return "preview", self.previews.pop(next(iter(self.previews)))
        return None

    async def send_forever(self, stats: WebSocketStats) -> None:
        """Send queued messages as fast as the client takes them."""
        while True:
            await self.ready.wait()
            self.ready.clear()
            while (message := self._next()) is not None:
                kind, text = message
                await self.connection.send(text)
                if kind == "results":
                    self.sent += 1
                    stats.results_sent += 1
                elif kind == "preview":
                    stats.previews_sent += 1


class StreamHub:
    """The stream's subscribers; deliver() and deliver_preview() run on the event loop."""

    def __init__(self, cameras: Sequence[str], labels: Sequence[str], preview: bool,
                 queue_size: int, stats: WebSocketStats) -> None:
        self.cameras = list(cameras)
        self.labels = list(labels)
        self.preview_enabled = preview
        self.queue_size = queue_size
        self.stats = stats
        self.clients: set[StreamClient] = set()
        # camera -> {"include": {name: polygon}, "exclude": {...}}, for the live page.
        self.zones: dict[str, dict[str, dict[str, list]]] = {}
        # Read by the camera threads (plain ints: no lock needed to read a snapshot).
        self.client_count = 0
        self.preview_watchers = 0

    def knows(self, camera: str) -> bool:
        """Whether a camera can be subscribed to."""
        return camera in self.cameras

    def deliver(self, result: FrameResult) -> None:
        """Queue one result for every client subscribed to its camera."""
        if result.camera not in self.cameras:
            self.cameras.append(result.camera)  # a camera added by a reload
        text = encode(results_payload(result)).decode()
        for client in self.clients:
            if client.wants(result.camera) and client.offer(text):
                self.stats.results_skipped += 1

    def deliver_preview(self, camera: str, text: str) -> None:
        """Queue one preview message for the clients that asked for previews of a camera."""
        for client in self.clients:
            if client.preview and client.wants(camera):
                client.offer_preview(camera, text)

    def hello(self, client: StreamClient) -> str:
        """The first message of a stream connection."""
        return compact({"type": "hello", "server": "emotion-edge", "version": __version__,
                        "labels": self.labels, "cameras": self.cameras, "zones": self.zones,
                        "camera": client.camera, "preview": client.preview})

    async def serve(self, connection: ServerConnection, camera: str | None,
                    preview: bool) -> None:
        """Serve one stream connection until it closes."""
        _small_send_buffer(connection)
        client = StreamClient(connection, camera, preview and self.preview_enabled,
                              self.queue_size)
        try:
            await connection.send(self.hello(client))
        except ConnectionClosed:
            return
        self._add(client)
        sender = asyncio.create_task(client.send_forever(self.stats))
        # Clients have nothing to say; reading keeps pings answered and sees the close.
        reader = asyncio.create_task(_discard_input(connection))
        try:
            await asyncio.wait([sender, reader], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, reader):
                task.cancel()
            await asyncio.gather(sender, reader, return_exceptions=True)
            self._remove(client)

    def _add(self, client: StreamClient) -> None:
        self.clients.add(client)
        self._recount()

    def _remove(self, client: StreamClient) -> None:
        self.clients.discard(client)
        self._recount()

    def _recount(self) -> None:
        self.client_count = self.stats.stream_clients = len(self.clients)
        self.preview_watchers = sum(1 for c in self.clients if c.preview)


async def _discard_input(connection: ServerConnection) -> None:
    try:
        async for _ in connection:
            pass
    except ConnectionClosed:
        pass


def _small_send_buffer(connection: ServerConnection) -> None:
    sock = connection.transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
