"""Counters of the WebSocket server, read by GET /status and the metrics sink."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class WebSocketStats:
    """What the server has done since it started.

    Written on the server's thread, except results_dropped (camera threads, under a lock).
    """

    listening: bool = False
    stream_clients: int = 0  # stream connections open now
    seed_clients: int = 0  # seed-protocol connections open now
    results_sent: int = 0  # results messages written to stream clients
    results_skipped: int = 0  # dropped from slow clients' queues (they got newer ones)
    results_dropped: int = 0  # never reached the server (its thread was behind)
    previews_sent: int = 0
    seed_answered: int = 0  # seed messages answered with predictions
    seed_errors: int = 0  # seed messages answered with {"error": ...} (bad input)
    seed_images_refused: int = 0  # of those, images refused as malformed or too slow to decode
    seed_rate_limited: int = 0  # seed messages over the client's rate limit, dropped
    seed_superseded: int = 0  # seed messages replaced by a newer one before their turn
    refused_unauthorized: int = 0  # requests without the right token (401/403)
    refused_full: int = 0  # WebSocket connections refused at max_clients (503)
    last_seed_seconds: float = 0.0  # decode + inference time of the last seed answer

    def as_dict(self) -> dict[str, object]:
        """The counters as a JSON-ready dict."""
        return asdict(self)
