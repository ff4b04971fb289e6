"""`emotion-edge watch`: a line every few seconds of what the daemon sees, from its stream.

A client of the results stream (`ws://HOST:8000/stream`), like the live page but for a
terminal: per camera the faces in view, the stable dominant emotion with the primary face's smoothed
probability of it, and results per second. For a newcomer without a broker (tools/demo.sh
runs it) and for a headless device over ssh. A daemon that is not up yet, or goes away, is
waited for, with the same Backoff the daemon uses.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from edge_daemon.core.backoff import Backoff

RETRY_FIRST_S, RETRY_LONGEST_S = 0.5, 5.0


@dataclass
class CameraView:
    """The newest result of one camera, and how many came since the last line."""

    faces: int = 0
    emotion: str | None = None
    probability: float | None = None
    results: int = 0


@dataclass
class StreamSummary:
    """Folds stream messages into one summary line per interval."""

    cameras: dict[str, CameraView] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)

    def take(self, text: str | bytes) -> None:
        """One stream message (results; hello, preview and skipped notices are passed over)."""
        message = json.loads(text)
        if "type" in message:
            for name in message.get("cameras", []) if message["type"] == "hello" else []:
                self.cameras.setdefault(name, CameraView())
            return
        view = self.cameras.setdefault(message["camera"], CameraView())
        view.faces = len(message["faces"])
        view.emotion = message["camera_emotion"]
        # The stable emotion goes with the smoothed probabilities, not one frame's raw ones.
        primary = next((f for f in message["faces"]
                        if f["track_id"] == message["primary_track_id"]), None)
        view.probability = (primary["smoothed"].get(view.emotion)
                            if primary is not None and view.emotion else None)
        view.results += 1

    def line(self, now: float | None = None) -> str:
        """`cam: 1 face, happy (0.97), 9.8 results/s; ...`, and start counting again."""
        now = time.monotonic() if now is None else now
        span = max(now - self.since, 1e-6)
        parts = []
        for name, view in self.cameras.items():
            faces = f"{view.faces} face{'' if view.faces == 1 else 's'}"
            if view.emotion is None:
                seen = "no face" if not view.faces else f"{faces}, no emotion yet"
            else:
                p = f" ({view.probability:.2f})" if view.probability is not None else ""
                seen = f"{faces}, {view.emotion}{p}"
            parts.append(f"{name}: {seen}, {view.results / span:.1f} results/s")
            view.results = 0
        self.since = now
        return "; ".join(parts) if parts else "no camera yet"


def watch(url: str, every_s: float, token: str | None = None, out: TextIO = sys.stdout,
          lines: int | None = None, clock: Callable[[], float] = time.monotonic) -> int:
    """Print a summary line every every_s seconds (lines: stop after that many; None: never)."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    headers = {"Authorization": f"Bearer {token}"} if token else None
    backoff = Backoff(RETRY_FIRST_S, RETRY_LONGEST_S)
    printed = 0
    waiting_said = False
    while lines is None or printed < lines:
        try:
            with connect(url, proxy=None, open_timeout=5, additional_headers=headers) as ws:
                backoff.reset()
                waiting_said = False
                summary = StreamSummary(since=clock())
                due = clock() + every_s
                while lines is None or printed < lines:
                    with contextlib.suppress(TimeoutError):  # no message before the line
                        summary.take(ws.recv(timeout=max(0.0, due - clock())))
                    if clock() >= due:
                        print(summary.line(clock()), file=out, flush=True)
                        printed += 1
                        due += every_s
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = ": a token is needed, set EMOTION_EDGE_WS_TOKEN" if status in (401, 403) else ""
            print(f"watch: {url} refused the connection (HTTP {status}{hint})",
                  file=sys.stderr)
            return 1
        except (OSError, ConnectionClosed, TimeoutError):
            if not waiting_said:
                print(f"watch: waiting for the daemon's stream at {url} ...", file=out,
                      flush=True)
                waiting_said = True
            time.sleep(backoff.next())
    return 0
