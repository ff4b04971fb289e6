"""The metadata schema shared by the export tool and the daemon."""

from __future__ import annotations

import pytest

from edge_daemon.inference.metadata import CropRule, ModelMetadata, ModelMetadataError


def _meta(**changes) -> ModelMetadata:
    values = dict(
        name="emotion", arch="mini-xception",
        labels=("angry", "happy"), input_height=64, input_width=64, layout="NCHW",
        channels="gray", scale=1 / 255, mean=(0.5,), std=(0.5,), crop=CropRule(square=True),
        output="probabilities", quantization="none", source_sha256="ab" * 32,
        exporter_version="0.1.0", opset=17,
    )
    values.update(changes)
    return ModelMetadata(**values)


def test_round_trip_through_props():
    meta = _meta(crop=CropRule(top=0.5))
    props = meta.to_props()
    assert all(k.startswith("emotion_edge.") for k in props)
    assert all(isinstance(v, str) for v in props.values())
    assert ModelMetadata.from_props({**props, "producer": "other tool"}) == meta


def test_model_without_our_metadata_is_named_as_such():
    with pytest.raises(ModelMetadataError, match="no emotion-edge metadata"):
        ModelMetadata.from_props({"author": "someone"})


def test_missing_keys_are_listed():
    props = _meta().to_props()
    del props["emotion_edge.labels"], props["emotion_edge.crop"]
    with pytest.raises(ModelMetadataError, match=r"labels, .*crop|crop, .*labels"):
        ModelMetadata.from_props(props)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"labels": ("a", "a")}, "distinct"),
        ({"channels": "rgb"}, "mean and std need 3"),
        ({"std": (0.0,)}, "positive"),
        ({"layout": "CHW"}, "NCHW or NHWC"),
    ],
)
def test_contradictory_values_are_refused(changes, reason):
    props = _meta(**changes).to_props()
    with pytest.raises(ModelMetadataError, match=reason):
        ModelMetadata.from_props(props)


def test_malformed_json_is_refused():
    props = _meta().to_props()
    props["emotion_edge.labels"] = "[not json"
    with pytest.raises(ModelMetadataError, match="malformed"):
        ModelMetadata.from_props(props)
