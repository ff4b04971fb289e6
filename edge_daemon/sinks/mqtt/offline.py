"""What the MQTT sink keeps while the broker is away (in a core.queues.DropOldestQueue)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """A message made while disconnected, sent on reconnect."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
