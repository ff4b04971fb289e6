"""The seed's replies in each client's labels and shape (edge_daemon/seed_api/replies.py)."""

from __future__ import annotations

import math

import numpy as np

from edge_daemon.config.websocket import FORK_LABEL_MAP, FORK_LABELS
from edge_daemon.core.records import Box
from edge_daemon.seed_api.replies import SeedReplies

FER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # the bundled model
P = np.array([0.05, 0.10, 0.15, 0.40, 0.05, 0.20, 0.05])


def test_the_forks_bars_get_the_nearest_fer_emotions_and_ahegao_none():
    replies = SeedReplies.build(FER, FORK_LABELS, FORK_LABEL_MAP, "list")
    reply = replies.reply(P, None, 100, 100)
    assert reply["predictions"] == [0.0, 0.15, 0.4, 0.05, 0.05, 0.35]  # angry+disgust, ...
    assert reply["emotion"] == "happy" and reply["box"] is None
    assert replies.unreached == ("ahegao",) and replies.left_out == ()
    assert replies.describe() == (
        "seed protocol: predictions as a list in the order ahegao, angry, happy, neutral, "
        "sad, surprise; mapped angry+disgust -> angry, fear+surprise -> surprise; no model "
        "label for ahegao (always 0)")


def test_the_seeds_own_model_needs_no_mapping():
    replies = SeedReplies.build(FORK_LABELS, FORK_LABELS, FORK_LABEL_MAP, "list")
    probabilities = np.array([0.1, 0.2, 0.3, 0.1, 0.1, 0.2])
    assert replies.reply(probabilities, None, 1, 1)["predictions"] == [0.1, 0.2, 0.3, 0.1, 0.1,
                                                                        0.2]
    assert replies.describe().endswith("sad, surprise")  # nothing mapped, nothing missing


def test_the_keras_clients_label_keyed_object_with_the_box():
    replies = SeedReplies.build(FER, FER, {}, "labels")
    reply = replies.reply(P, Box(10, 20, 60, 90), 100, 100)
    assert reply["predictions"] == dict(zip(FER, [0.05, 0.1, 0.15, 0.4, 0.05, 0.2, 0.05],
                                            strict=True))
    assert reply["emotion"] == "happy"
    assert reply["box"] == {"x1": 0.1, "y1": 0.2, "x2": 0.6, "y2": 0.9}


def test_labels_the_client_lacks_are_left_out_and_broken_outputs_become_null():
    replies = SeedReplies.build(FER, ["happy", "sad"], {}, "list")
    assert replies.left_out == ("angry", "disgust", "fear", "surprise", "neutral")
    broken = P.copy()
    broken[3] = math.nan
    reply = replies.reply(broken, None, 1, 1)
    assert reply["predictions"] == [None, 0.05] and reply["emotion"] == "sad"
