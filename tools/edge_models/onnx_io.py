"""PyTorch to ONNX, and ModelMetadata into an ONNX file's metadata_props."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from edge_daemon.inference.metadata import ModelMetadata
from edge_models.graph_passes import fold_pool_padding

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "output"
DEFAULT_OPSET = 17


def export_fp32(module: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    """Write the module as an fp32 ONNX graph with a dynamic batch dimension, padding folded."""
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter (dynamo=False) needs no onnxscript, folds BatchNorm into
        # the convs and yields plain Conv/Relu graphs that onnxruntime's quantizer handles well;
        # it warns that it is deprecated and that shapes are traced as constants (intended).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), str(path),
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
        )
    fold_pool_padding(path, path)
    log.info("exported fp32 ONNX (opset %d) to %s", opset, path)


def write_metadata(src: Path, dst: Path, meta: ModelMetadata) -> None:
    """Copy an ONNX model from src to dst with our metadata in its metadata_props."""
    model = onnx.load(str(src))
    props = meta.to_props()
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    model.doc_string = f"{meta.name}: {meta.arch}, labels {', '.join(meta.labels)}"
    onnx.save(model, str(dst))


def read_metadata(path: Path) -> ModelMetadata:
    """The ModelMetadata stored in an ONNX file."""
    model = onnx.load(str(path), load_external_data=False)
    return ModelMetadata.from_props({p.key: p.value for p in model.metadata_props})
