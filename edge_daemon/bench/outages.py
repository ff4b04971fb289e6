"""`emotion-edge bench --outages 5,20,70,300`: how soon results flow again after a broker outage.

The real daemon (`emotion-edge run` in a child process, the registry's face video as its
camera at 100 ms) publishes to a local mosquitto; the broker is stopped for each outage in
turn and started again on the same port. Measured per outage: the time from the broker
listening again to the first result reaching a subscriber, and how many of the results
produced during the outage reached it (the daemon queues up to `mqtt.offline_queue_size`).
The subscriber reconnects within 0.2 s, so nearly all of the time is the daemon's.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path

from edge_daemon.bench.daemon_probe import (
    ProbeError,
    ResultsListener,
    _start,
    _wait_first,
    daemon_config,
)
from edge_daemon.mosquitto import LocalBroker

SETTLE_S = 3.0  # results flowing steadily before each outage
WAIT_BACK_S = 120.0  # longest wait for the first result after the broker is back


def parse_outages(text: str) -> list[float]:
    """'5,20,70' -> [5.0, 20.0, 70.0] (seconds, each > 0)."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--outages {text!r}: give seconds separated by commas") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"--outages {text!r}: every outage must be over 0 s")
    return values


def _frames(samples: list[tuple[float, bytes]]) -> list[int]:
    return [int(json.loads(payload)["frame"]) for _, payload in samples]


def measure_outages(video: Path, outages: list[float], interval_ms: int,
                    say) -> list[dict]:
    """One daemon, one broker, each outage in turn; a dict of figures per outage."""
    broker = LocalBroker()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    config = daemon_config(video, interval_ms, broker.host, broker.port, prefix, minimal=True)
    listener = ResultsListener(broker.host, broker.port, f"{prefix}/bench/results")
    listener.client.reconnect_delay_set(0.05, 0.2)
    out = []
    with tempfile.TemporaryDirectory(prefix="emotion-edge-bench-outage-") as tmp:
        child = _start(config, Path(tmp))
        try:
            _wait_first(listener, child, Path(tmp))
            for seconds in outages:
                time.sleep(SETTLE_S)
                before = _frames(listener.taken())
                say(f"broker outage of {seconds:g} s")
                broker.pause()
                listener.taken()  # what arrived before the broker went
                time.sleep(seconds)
                broker.resume()
                back = time.time()
                deadline = time.monotonic() + WAIT_BACK_S
                while not listener.samples and time.monotonic() < deadline:
                    if child.poll() is not None:
                        raise ProbeError(f"the daemon exited with {child.returncode}")
                    time.sleep(0.01)
                first = listener.samples[0][0] if listener.samples else float("nan")
                time.sleep(2.0)  # the replayed queue arrives
                after = _frames(listener.taken())
                last_before = max(before, default=-1)
                first_live = min((f for f in after), default=last_before)
                produced = max(after, default=last_before) - last_before
                out.append({
                    "outage_s": seconds,
                    "first_result_after_broker_back_s": first - back,
                    "results_during_and_after": len(after),
                    "frames_since_last_before": produced,
                    "lost": max(0, produced - len(set(after))),
                    "first_frame_received": first_live,
                })
        finally:
            listener.close()
            child.terminate()
            child.wait(10)
            broker.stop()
    return out


def format_outages(rows: list[dict], config_cap: float) -> str:
    """The table printed by --outages."""
    lines = [f"Broker outages (mqtt.reconnect_max_delay {config_cap:g} s, drawn 50-100 % per "
             "attempt; offline queue 1000 results):",
             f"  {'outage':>8} {'first result after broker back':>31} {'results lost':>13}"]
    for row in rows:
        lines.append(f"  {row['outage_s']:>6g} s {row['first_result_after_broker_back_s']:>29.2f} s"
                     f" {row['lost']:>6d} of {row['frames_since_last_before']}")
    return "\n".join(lines)
