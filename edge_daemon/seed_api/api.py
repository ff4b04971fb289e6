"""The seed's request/answer API as the WebSocket server serves it at `/`.

The server routes a connection here and knows nothing else of it: this object owns the
detector and classifier (through OnDemandInference) and the thread pools they run in.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from websockets.asyncio.server import ServerConnection

from edge_daemon.core.log_throttle import LogThrottle
from edge_daemon.core.stats import WebSocketStats
from edge_daemon.seed_api.inference import OnDemandInference
from edge_daemon.seed_api.replies import SeedReplies
from edge_daemon.seed_api.session import SeedSession

LOG_INTERVAL_S = 60.0


class SeedApi:
    """Answers the seed's client: one face image in, the model's probabilities out."""

    def __init__(self, inference: OnDemandInference, replies: SeedReplies, workers: int,
                 max_image_pixels: int, rate_limit: float) -> None:
        self.inference = inference
        self.replies = replies
        self.max_image_pixels = max_image_pixels
        self.rate_limit = rate_limit
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="ws-seed")
        # Client images are decoded apart from inference: a decode that overruns its bound
        # holds one of these threads, never an inference thread.
        self.decode_pool = ThreadPoolExecutor(workers + 1, thread_name_prefix="ws-decode")
        self._log = LogThrottle(LOG_INTERVAL_S)

    @property
    def labels(self) -> Sequence[str]:
        """The emotion model's labels, in the order of its probabilities."""
        return self.inference.labels

    @property
    def model_name(self) -> str:
        """The emotion model's name."""
        return self.inference.model_name

    async def serve(self, connection: ServerConnection, stats: WebSocketStats) -> None:
        """Answer one client's messages until it disconnects."""
        stats.seed_clients += 1
        try:
            await SeedSession(connection, self.inference, self.replies, self.pool,
                              self.max_image_pixels, self.rate_limit, stats, self._log,
                              self.decode_pool).run()
        finally:
            stats.seed_clients -= 1

    def shutdown(self) -> None:
        """Stop the thread pools (work in hand is abandoned)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.decode_pool.shutdown(wait=False, cancel_futures=True)
