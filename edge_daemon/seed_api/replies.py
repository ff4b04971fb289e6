"""What the seed's clients expect back: their own labels, in their order, in their shape.

The fork's React client hard-codes six labels (ahegao, angry, happy, neutral, sad, surprise)
and reads `predictions` as a list in that order; the Keras original's client reads
`predictions` as an object keyed by FER2013's seven labels. The model may know other labels,
or the same ones in another order: each client label gets the probability of the model
label of the same name, plus those mapped onto it (`websocket.seed_label_map`); a client
label no model label reaches stays 0, and a model label with no client label is left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge_daemon.core.records import Box


@dataclass(frozen=True)
class SeedReplies:
    """Turns the model's probabilities into the reply one kind of seed client reads."""

    labels: tuple[str, ...]  # the client's labels, in the order it reads them
    sources: tuple[tuple[int, ...], ...]  # per client label: the model labels summed into it
    shape: str  # "list" (the fork's client) or "labels" (the Keras original's)
    model_labels: tuple[str, ...] = ()
    unreached: tuple[str, ...] = ()  # client labels no model label maps to (always 0)
    left_out: tuple[str, ...] = ()  # model labels no client label shows

    @classmethod
    def build(cls, model_labels: Sequence[str], client_labels: Sequence[str] | None,
              label_map: Mapping[str, str], shape: str) -> SeedReplies:
        """The projection from the model's labels onto the client's (None: the model's own)."""
        names = tuple(client_labels) if client_labels is not None else tuple(model_labels)
        targets = {label: label_map.get(label, label) for label in model_labels}
        sources = tuple(tuple(i for i, label in enumerate(model_labels)
                              if targets[label] == name) for name in names)
        return cls(names, sources, shape, tuple(model_labels),
                   unreached=tuple(n for n, s in zip(names, sources, strict=True) if not s),
                   left_out=tuple(m for m in model_labels if targets[m] not in names))

    def describe(self) -> str:
        """One line for the start-up log: which labels the seed's clients get, and gaps."""
        mapped = [f"{'+'.join(self.model_labels[i] for i in s)} -> {n}"
                  for n, s in zip(self.labels, self.sources, strict=True)
                  if s and [self.model_labels[i] for i in s] != [n]]
        form = "a list in the order" if self.shape == "list" else "an object keyed by"
        parts = [f"seed protocol: predictions as {form} {', '.join(self.labels)}"]
        if mapped:
            parts.append(f"mapped {', '.join(mapped)}")
        if self.unreached:
            parts.append(f"no model label for {', '.join(self.unreached)} (always 0)")
        if self.left_out:
            parts.append(f"not shown: {', '.join(self.left_out)}")
        return "; ".join(parts)

    def reply(self, probabilities: np.ndarray, box: Box | None, width: int,
              height: int) -> dict[str, object]:
        """The reply: rounded probabilities, the dominant client label, the face's box."""
        values = [float(sum(float(probabilities[i]) for i in s)) for s in self.sources]
        # JSON has no NaN: a broken model output becomes null rather than invalid JSON.
        rounded = [round(v, 5) if math.isfinite(v) else None for v in values]
        finite = [v if math.isfinite(v) else -1.0 for v in values]
        predictions: object = (rounded if self.shape == "list"
                               else dict(zip(self.labels, rounded, strict=True)))
        where = None
        if box is not None:
            x1, y1, x2, y2 = box.clipped(width, height).normalized(width, height)
            where = {"x1": round(x1, 4), "y1": round(y1, 4), "x2": round(x2, 4),
                     "y2": round(y2, 4)}
        return {"predictions": predictions, "emotion": self.labels[finite.index(max(finite))],
                "box": where}
