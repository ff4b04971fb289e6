"""Config section `websocket`: the local HTTP/WebSocket server (stream, seed protocol, page).

The access token is deliberately not a field here: it is a secret, read from the environment
variable EMOTION_EDGE_WS_TOKEN or the systemd credential named by `token_credential`, and
handed to the sink by the app. Whether a token is required depends on the bind address:
a server reachable beyond this machine refuses to start without one unless
`allow_unauthenticated` says that is intended (checked at start, since the token is not
part of the YAML).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from edge_daemon.config.base import Section

WS_TOKEN_ENV = "EMOTION_EDGE_WS_TOKEN"
WS_TOKEN_CREDENTIAL = "websocket_token"
DEFAULT_PORT = 8000  # the seed's server port: its client connects to ws://localhost:8000/
# The fork's React client has these six labels in its code, in this order (seed FACTS).
FORK_LABELS = ("ahegao", "angry", "happy", "neutral", "sad", "surprise")
FORK_LABEL_MAP = {"disgust": "angry", "fear": "surprise"}
SeedLabel = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


class WebSocketConfig(Section):
    """The local WebSocket server: results stream, the seed's protocol and the live page."""

    enabled: bool = True
    """Run the server at all."""
    host: Annotated[str, StringConstraints(min_length=1)] = "127.0.0.1"
    """Address to listen on. 127.0.0.1 (the default) serves this machine only; 0.0.0.0 (or
    ::) serves the network and then needs a token (see allow_unauthenticated)."""
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    """TCP port. 8000 is the seed server's port, so the seed's React client, which has
    ws://localhost:8000 in its source, works unchanged on the same machine."""
    token_credential: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=255)
    ] = WS_TOKEN_CREDENTIAL
    """Name of the systemd credential (a file in $CREDENTIALS_DIRECTORY) holding the access
    token; the environment variable EMOTION_EDGE_WS_TOKEN takes precedence. With a token,
    every endpoint but the page's static files needs `Authorization: Bearer <token>` or
    `?token=<token>`."""
    allow_unauthenticated: bool = False
    """Allow listening on a non-loopback address without a token (anyone on the network
    then sees the results and can use the model)."""
    max_clients: int = Field(16, ge=1, le=1000)
    """WebSocket connections served at once (stream and seed protocol together); more are
    refused with HTTP 503."""
    client_queue_size: int = Field(16, ge=1, le=10000)
    """Results waiting per stream client; a client that reads slower loses the oldest
    (counted), so it always gets the newest results and never slows anyone else."""
    max_message_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Largest message a client may send (2 MiB); a larger one closes its connection with
    code 1009, since it would have to be buffered to be answered."""
    max_image_pixels: int = Field(3840 * 2160, ge=64 * 64, le=100_000_000)
    """Largest image (width x height, read from the PNG/JPEG header before decoding) the
    seed protocol accepts; guards against decompression bombs. Default: one 4K frame."""
    seed_rate_limit: float = Field(100.0, gt=0.0, le=10000.0)
    """Messages per second one seed-protocol client may send (a burst of as many is
    allowed); more are dropped, counted and answered with an error at most once a second.
    100/s is the seed client's fastest interval (10 ms)."""
    seed_reply: Literal["list", "labels"] = "list"
    """Shape of the seed protocol's `predictions`: `list` (the fork's React client: the
    probabilities in `seed_labels` order) or `labels` (the Keras original's client: an object
    keyed by label). Both come with `emotion`, the dominant label, and `box`."""
    seed_labels: tuple[SeedLabel, ...] | None = FORK_LABELS
    """The labels the seed's client shows, in its order. The default is the fork's six
    (its client has them in its code); null means the model's own labels and order. For the
    Keras original's client: [angry, disgust, fear, happy, sad, surprise, neutral]."""
    seed_label_map: dict[SeedLabel, SeedLabel] = Field(
        default_factory=lambda: dict(FORK_LABEL_MAP))
    """Model label -> client label, for model labels the client has no bar of the same name
    for; probabilities mapped onto one label add up. The default fits the bundled 7-label
    model to the fork's client: disgust shows as angry and fear as surprise (the
    expressions FER models confuse them with most); ahegao has no model label and stays 0."""
    seed_workers: int = Field(1, ge=1, le=8)
    """Threads running the seed protocol's inference; each takes up to one CPU core beside
    the cameras' loops."""
    preview: bool = False
    """Send a downscaled JPEG of each camera's frame to the live page (and to stream clients
    asking for it with ?preview=1). Off by default: faces are personal data."""
    preview_interval_s: float = Field(0.5, ge=0.05, le=3600.0)
    """At most one preview image per camera every this many seconds."""
    preview_width: int = Field(480, ge=32, le=3840)
    """Preview images are scaled down to at most this width (aspect kept)."""
    preview_quality: int = Field(70, ge=1, le=100)
    """JPEG quality of the preview images."""

    @field_validator("seed_labels")
    @classmethod
    def _distinct(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) != len(value):
            twice = sorted({v for v in value if value.count(v) > 1})
            raise ValueError(f"a label is listed twice: {', '.join(twice)}")
        if value is not None and not value:
            raise ValueError("give at least one label, or null for the model's own")
        return value

    @field_validator("seed_label_map")
    @classmethod
    def _onto_known_labels(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        shown = info.data.get("seed_labels")
        unknown = sorted(set(value.values()) - set(shown)) if shown else []
        if unknown:
            raise ValueError(f"maps onto {', '.join(unknown)}, which seed_labels does not "
                             "list")
        return value

    def needs_token(self) -> bool:
        """Whether this server must not start without a token."""
        return not is_loopback(self.host) and not self.allow_unauthenticated
