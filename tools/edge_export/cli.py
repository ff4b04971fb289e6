"""emotion-edge-export: turn a PyTorch state_dict into a self-describing, measured ONNX model.

Exit codes: 0 written; 1 bad input or failed export (one line on stderr); 2 bad command
line; 3 the fidelity gate failed (the report table is printed, nothing is written).
"""

from __future__ import annotations

import argparse
import logging
import sys
from fractions import Fraction
from pathlib import Path

from edge_models.archs import ARCHS

from edge_daemon.inference.metadata import CropRule
from edge_export import EXPORTER_VERSION

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_GATE = 0, 1, 2, 3
CROP_SIDES = ("top", "bottom", "left", "right")
CROP_HELP = (
    "face-crop rule as KEY=VALUE pairs separated by commas: top, bottom, left, right grow "
    "the detected box by that fraction of its height (top, bottom) or width (left, right); "
    "square=1 first elongates the shorter side around the centre. 'none' keeps the box. "
    "e.g. top=0.5 (the seed) or square=1,top=0.1,bottom=0.1,left=0.1,right=0.1 (fer)"
)


def parse_crop(text: str) -> CropRule:
    """'top=0.5,square=1' -> CropRule; 'none' -> no growth."""
    if text.strip().lower() == "none":
        return CropRule()
    values: dict[str, float | bool] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in (*CROP_SIDES, "square"):
            raise argparse.ArgumentTypeError(
                f"{part!r} is not KEY=VALUE with KEY one of {', '.join(CROP_SIDES)}, square"
            )
        if key == "square":
            if value.strip().lower() not in ("0", "1", "true", "false", "yes", "no"):
                raise argparse.ArgumentTypeError(f"square={value} is not 0 or 1")
            values[key] = value.strip().lower() in ("1", "true", "yes")
        else:
            values[key] = _nonnegative(value)
    return CropRule(**values)


def _nonnegative(text: str) -> float:
    number = parse_number(text)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return number


def parse_number(text: str) -> float:
    """A float, also written as a fraction such as 1/255."""
    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def parse_numbers(text: str) -> tuple[float, ...]:
    """'0.5,0.4,0.3' -> (0.5, 0.4, 0.3)."""
    return tuple(parse_number(p) for p in text.split(","))


def parse_labels(text: str) -> tuple[str, ...]:
    """'angry,happy' -> ('angry', 'happy'); empty names refused."""
    labels = tuple(p.strip() for p in text.split(","))
    if not all(labels):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty label name")
    return labels


def parse_size(text: str) -> tuple[int, int]:
    """'224' -> (224, 224); '320x240' -> (width 320, height 240)."""
    parts = text.lower().split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not N or WIDTHxHEIGHT") from None
    if len(numbers) not in (1, 2) or min(numbers) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not N or WIDTHxHEIGHT (positive)")
    return (numbers[0], numbers[-1])


def parse_fraction_or_percent(text: str) -> float:
    """'0.99' or '99%' -> 0.99."""
    text = text.strip()
    return parse_number(text[:-1]) / 100 if text.endswith("%") else parse_number(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line; every model option defaults to the architecture's own value."""
    p = argparse.ArgumentParser(
        prog="emotion-edge-export",
        description="Export a PyTorch state_dict to a self-describing ONNX emotion model, "
                    "quantized only when measurement shows it is faster and faithful.",
        epilog="Every model option defaults to the architecture's own value. Face images for "
               "--calibration/--holdout: a folder of photos with faces; each face is found with "
               "the daemon's BlazeFace detector and cropped as the daemon does. "
               "Exit codes: 0 ok, 1 bad input or failed export, 2 usage, 3 fidelity gate.",
    )
    p.add_argument("--arch", required=True, choices=sorted(ARCHS), help="network architecture")
    p.add_argument("--state-dict", required=True, type=Path,
                   help="file saved with torch.save(model.state_dict(), path) (any device)")
    p.add_argument("--out", required=True, type=Path,
                   help="output .onnx path; the report goes to <out>.report.json")
    m = p.add_argument_group("model (defaults: the architecture's own)")
    m.add_argument("--labels", type=parse_labels, help="comma-separated, in output order")
    m.add_argument("--input-size", type=parse_size, help="N or WIDTHxHEIGHT in pixels")
    m.add_argument("--channels", choices=("rgb", "bgr", "gray"), help="input channel order")
    m.add_argument("--scale", type=parse_number, help="pixel (0..255) multiplier, e.g. 1/255")
    m.add_argument("--mean", type=parse_numbers, help="per-channel mean after scaling, a,b,c")
    m.add_argument("--std", type=parse_numbers, help="per-channel std after scaling, a,b,c")
    m.add_argument("--crop", type=parse_crop, help=CROP_HELP)
    m.add_argument("--name", help="model name in the metadata (default: the output file name)")
    q = p.add_argument_group("quantization and measurement")
    q.add_argument("--quantize", choices=("none", "int8", "auto"), default="auto",
                   help="none: fp32; int8: static QDQ u8/s8 per-channel; auto (default): build "
                        "both, keep the fastest that passes the fidelity gate")
    q.add_argument("--calibration", type=Path,
                   help="folder of face images to calibrate int8 on (default: the project's "
                        "face set in .assets/faces/calibration, from tools/build_face_set.py)")
    q.add_argument("--holdout", type=Path,
                   help="folder of face images to measure fidelity on (default: "
                        ".assets/faces/holdout)")
    q.add_argument("--max-calibration", type=int, help="use at most this many calibration faces")
    q.add_argument("--max-holdout", type=int, help="use at most this many held-out faces")
    q.add_argument("--min-agreement", type=parse_fraction_or_percent, default=0.99,
                   help="fidelity gate: least top-1 agreement with PyTorch, 0.99 or 99%% "
                        "(default 0.99)")
    q.add_argument("--force", action="store_true", help="write the model even if the gate fails")
    q.add_argument("--threads", type=int, default=1,
                   help="intra-op threads the daemon will use; auto picks the variant fastest "
                        "at this count (default 1, the daemon's default)")
    q.add_argument("--latency-seconds", type=float, default=3.0,
                   help="time spent timing each variant at each thread count (default 3)")
    q.add_argument("--skip-memory", action="store_true",
                   help="do not measure each variant's peak memory in a fresh process")
    q.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--debug", action="store_true", help="debug logging and full tracebacks")
    p.add_argument("--version", action="version", version=EXPORTER_VERSION)
    return p


def _request(args: argparse.Namespace):
    from edge_export.request import ExportRequest

    return ExportRequest(
        arch=args.arch, state_dict=args.state_dict, out=args.out, labels=args.labels,
        input_size=args.input_size, channels=args.channels, scale=args.scale, mean=args.mean,
        std=args.std, crop=args.crop, quantize=args.quantize, calibration=args.calibration,
        holdout=args.holdout, opset=args.opset, min_agreement=args.min_agreement,
        force=args.force, threads=args.threads, max_calibration=args.max_calibration,
        max_holdout=args.max_holdout, latency_seconds=args.latency_seconds,
        measure_memory=not args.skip_memory, name=args.name,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the export; print the report table; return the exit code."""
    args = build_parser().parse_args(argv)
    # Our own steps at INFO (they tell what the minutes go to); onnxruntime's quantizer logs
    # hundreds of INFO lines to the root logger, which stays at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("edge_export", "edge_models", "edge_daemon"):
        logging.getLogger(name).setLevel(logging.DEBUG if args.debug else logging.INFO)
    # Imported here so that --help answers without loading torch.
    from edge_models.errors import ExportError

    from edge_export.export import FidelityGateError, run_export

    try:
        report = run_export(_request(args))
    except FidelityGateError as exc:
        print(exc.report.table())
        return _fail(exc, args.debug, EXIT_GATE)
    except ExportError as exc:
        return _fail(exc, args.debug, EXIT_ERROR)
    except KeyboardInterrupt:
        print("emotion-edge-export: interrupted; nothing written", file=sys.stderr)
        return 130
    except Exception as exc:  # an unforeseen failure still gets one line unless --debug
        if args.debug:
            raise
        print(f"emotion-edge-export: unexpected {type(exc).__name__}: {exc} (rerun with --debug)"
              .splitlines()[0], file=sys.stderr)
        return EXIT_ERROR
    print(report.table())
    print(f"wrote {args.out} ({report.chosen}) and {args.out}.report.json")
    return EXIT_OK


def _fail(exc: Exception, debug: bool, code: int) -> int:
    if debug:
        import traceback

        traceback.print_exception(exc)
    print(f"emotion-edge-export: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
