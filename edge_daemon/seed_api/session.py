"""The seed's WebSocket protocol: a face image in, `{"predictions": [...], "emotion": ...}` out.

Client to server: `{"event": "localhost:subscribe", "data": {"image": "data:image/...,..."}}`
(the event's value is not used). Server to client: the probabilities rounded to 5 decimals
in the client's labels and shape (replies.py), the dominant label, and `box`, the face found
in the image (fractions of its size; null when the whole image was taken as the face).
Bad input gets `{"error": "..."}` and the connection stays open.

Per connection, a reader takes messages as they come and keeps only the newest waiting one
(older ones are superseded, counted): a client sending faster than the model answers gets
answers about its latest image, not a growing backlog. Decoding and inference run in a
small thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import Executor

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from edge_daemon.core.log_throttle import LogThrottle
from edge_daemon.core.stats import WebSocketStats
from edge_daemon.seed_api.images import ImageError, data_url_bytes, decode_image
from edge_daemon.seed_api.inference import OnDemandInference
from edge_daemon.seed_api.replies import SeedReplies

log = logging.getLogger(__name__)

EXPECTED = '{"event": "...", "data": {"image": "data:image/png;base64,..."}}'
RATE_NOTICE_INTERVAL_S = 1.0  # at most one rate-limit error reply per client per second
ERROR_LOG_INTERVAL_S = 60.0


class SeedRequestError(ValueError):
    """A seed-protocol message that cannot be answered; the message says why."""


def seed_image_url(message: str | bytes) -> object:
    """The `data.image` value of a seed message (not yet checked to be a data URL)."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise SeedRequestError("binary message is not UTF-8 JSON") from None
    try:
        body = json.loads(message)
    except json.JSONDecodeError as exc:
        raise SeedRequestError(f"message is not JSON ({exc.msg} at line {exc.lineno} "
                               f"column {exc.colno}); expected {EXPECTED}") from None
    except RecursionError:
        raise SeedRequestError("message is nested too deeply to be read") from None
    except ValueError as exc:  # e.g. an integer of over 4,300 digits
        raise SeedRequestError(f"message cannot be read as JSON ({exc})") from None
    if not isinstance(body, dict):
        raise SeedRequestError(f"message must be a JSON object like {EXPECTED}")
    data = body.get("data")
    if not isinstance(data, dict) or "image" not in data:
        raise SeedRequestError(f'message has no "data": {{"image": ...}}; expected {EXPECTED}')
    return data["image"]


def request_image(message: str | bytes, max_pixels: int) -> np.ndarray:
    """The image of one seed message, decoded (runs in a decoder thread)."""
    return decode_image(data_url_bytes(seed_image_url(message)), max_pixels)


def answer(image: np.ndarray, inference: OnDemandInference,
           replies: SeedReplies) -> dict[str, object]:
    """The reply for one decoded image (runs in an inference thread)."""
    estimate = inference.estimate(image)
    return replies.reply(estimate.probabilities, estimate.box, image.shape[1], image.shape[0])


DECODE_TIMEOUT_S = 2.0  # a client image that takes longer to decode is refused


class TokenBucket:
    """Allows `rate` events per second on average and bursts of up to `rate` at once."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class SeedSession:
    """One seed-protocol connection: newest message first, answers computed off the loop."""

    def __init__(self, connection: ServerConnection, inference: OnDemandInference,
                 replies: SeedReplies, executor: Executor, max_pixels: int, rate_limit: float,
                 stats: WebSocketStats, errors: LogThrottle,
                 decoder: Executor | None = None) -> None:
        self.connection = connection
        self.inference = inference
        self.replies = replies
        self.executor = executor
        self.decoder = decoder or executor
        self.max_pixels = max_pixels
        self.stats = stats
        self._bucket = TokenBucket(rate_limit)
        self._errors = errors
        self._pending: str | bytes | None = None
        self._wake = asyncio.Event()
        self._notices = LogThrottle(RATE_NOTICE_INTERVAL_S)  # error replies, not log lines

    async def run(self) -> None:
        """Serve the connection until the client leaves or the server stops."""
        worker = asyncio.create_task(self._answer_loop())
        try:
            async for message in self.connection:
                await self._received(message)
        except ConnectionClosed:
            pass  # e.g. 1009: a message over max_message_bytes
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    async def _received(self, message: str | bytes) -> None:
        if not self._bucket.take():
            self.stats.seed_rate_limited += 1
            if self._notices.allow() is not None:
                limit = self._bucket.rate
                await self.connection.send(json.dumps({
                    "error": f"rate limit exceeded: at most {limit:g} messages per second; "
                             "messages over it are dropped"}))
            return
        if self._pending is not None:
            self.stats.seed_superseded += 1
        self._pending = message
        self._wake.set()

    async def _reply(self, loop: asyncio.AbstractEventLoop,
                     message: str | bytes) -> tuple[dict[str, object], bool]:
        """Decode (bounded in time, on the decoder threads), then classify."""
        decoding = loop.run_in_executor(self.decoder, request_image, message, self.max_pixels)
        try:
            image = await asyncio.wait_for(decoding, DECODE_TIMEOUT_S)
        except SeedRequestError as exc:
            return {"error": str(exc)}, False
        except ImageError as exc:
            return self._refused(str(exc)), False
        except asyncio.TimeoutError:
            # The decoder thread cannot be interrupted; it finishes on its own while the
            # client, and every other one, is answered.
            return self._refused(f"decoding the image took more than {DECODE_TIMEOUT_S:g} s"), False
        return await loop.run_in_executor(self.executor, answer, image, self.inference,
                                          self.replies), True

    def _refused(self, reason: str) -> dict[str, object]:
        self.stats.seed_images_refused += 1
        held = self._errors.allow("image refused")
        if held is not None:
            peer = getattr(self.connection, "remote_address", None)
            log.warning("seed protocol: refused an image from %s: %s (%d refused so far)",
                        peer[0] if peer else "a client", reason, self.stats.seed_images_refused)
        return {"error": reason}

    async def _answer_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            message, self._pending = self._pending, None
            if message is None:
                continue
            started = time.perf_counter()
            try:
                reply, ok = await self._reply(loop, message)
            except RuntimeError as exc:  # the pool is shut down: the server is stopping
                log.debug("seed answer abandoned: %s", exc)
                return
            except Exception as exc:
                reply, ok = {"error": "internal error while classifying the image"}, False
                if self._errors.allow(type(exc).__name__) is not None:
                    log.error("seed protocol: inference failed: %s: %s",
                              type(exc).__name__, exc)
            if ok:
                self.stats.seed_answered += 1
                self.stats.last_seed_seconds = time.perf_counter() - started
            else:
                self.stats.seed_errors += 1
            try:
                await self.connection.send(json.dumps(reply, separators=(",", ":")))
            except ConnectionClosed:
                return
