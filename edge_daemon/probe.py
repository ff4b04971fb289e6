"""`emotion-edge probe`: what this machine offers (cameras, providers, optional libraries),
and what each model really runs on with the configured runtime."""

from __future__ import annotations

import glob
import importlib
import platform
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import onnxruntime as ort

from edge_daemon.config.classifier import ClassifierConfig
from edge_daemon.config.runtime import RuntimeConfig
from edge_daemon.inference.detectors.blazeface import default_model_path
from edge_daemon.inference.onnx_model import RuntimeOptions, node_placement
from edge_daemon.sources.gstreamer import gstreamer_version
from edge_daemon.sources.opencv import quiet_opencv


@dataclass
class CameraProbe:
    """One /dev/video* node and whether OpenCV could read a frame from it."""

    device: str
    opened: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    fourcc: str = ""


@dataclass
class ModelProbe:
    """One model file and which execution provider ran how many of its nodes."""

    name: str
    path: str
    present: bool
    nodes: dict[str, int] = field(default_factory=dict)  # provider -> nodes it ran
    ops: dict[str, dict[str, int]] = field(default_factory=dict)  # provider -> op -> count
    error: str = ""


@dataclass
class ProbeReport:
    """Everything probe found."""

    cameras: list[CameraProbe] = field(default_factory=list)
    onnxruntime_version: str = ""
    onnxruntime_providers: list[str] = field(default_factory=list)
    requested_providers: list[str] = field(default_factory=list)  # the runtime section's
    opencv_version: str = ""
    opencv_ffmpeg: bool = False
    gstreamer: str = ""  # GStreamer's version through PyGObject, or why it is not usable
    libraries: dict[str, str] = field(default_factory=dict)  # name -> version or why not
    models: list[ModelProbe] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The report as plain data (for --json)."""
        return asdict(self)


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe_v4l2(pattern: str = "/dev/video*") -> list[CameraProbe]:
    """Try every V4L2 node; metadata-only nodes (no frames) show as not opened."""
    found = []
    for device in sorted(glob.glob(pattern), key=_natural):
        capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        try:
            ok = capture.isOpened() and capture.read()[0]
            if not ok:
                found.append(CameraProbe(device, False))
                continue
            code = int(capture.get(cv2.CAP_PROP_FOURCC))
            fourcc = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip("\0")
            found.append(CameraProbe(
                device, True, int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), capture.get(cv2.CAP_PROP_FPS),
                fourcc,
            ))
        finally:
            capture.release()
    return found


def _natural(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def library_status(module: str) -> str:
    """The module's version when it imports, else why it does not."""
    try:
        imported = importlib.import_module(module)
    except Exception as exc:  # an optional library may fail in any way, not only ImportError
        return f"not importable ({type(exc).__name__}: {exc})"
    return f"importable ({getattr(imported, '__version__', 'version unknown')})"


def probe_model(name: str, path: Path, options: RuntimeOptions) -> ModelProbe:
    """Run one model once, profiled, to see which provider took its nodes."""
    found = ModelProbe(name, str(path), path.is_file())
    if not found.present:
        return found
    try:
        found.ops = node_placement(path, options)
    except Exception as exc:  # onnxruntime's own errors: reported, the probe goes on
        found.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    found.nodes = {provider: sum(ops.values()) for provider, ops in found.ops.items()}
    return found


def run_probe(camera_pattern: str = "/dev/video*", runtime: RuntimeConfig | None = None,
              classifier: ClassifierConfig | None = None) -> ProbeReport:
    """Probe cameras, onnxruntime, OpenCV, GStreamer, optional libraries and the models."""
    quiet_opencv()
    build = cv2.getBuildInformation()
    runtime = runtime or RuntimeConfig()
    options = RuntimeOptions.from_config(runtime)
    classifier = classifier or ClassifierConfig()
    models: dict[str, Path] = {
        "classifier": classifier.model_path(),
        "blazeface short": default_model_path("short"),
        "blazeface full": default_model_path("full"),
    }
    return ProbeReport(
        cameras=probe_v4l2(camera_pattern),
        onnxruntime_version=ort.__version__,
        onnxruntime_providers=list(ort.get_available_providers()),
        requested_providers=list(runtime.providers),
        opencv_version=cv2.__version__,
        opencv_ffmpeg=re.search(r"^\s*FFMPEG:\s*YES", build, re.MULTILINE) is not None,
        gstreamer=gstreamer_version(),
        libraries={name: library_status(name) for name in ("picamera2", "mediapipe")},
        models=[probe_model(name, path, options) for name, path in models.items()],
    )


def format_report(report: ProbeReport) -> str:
    """The report as text for a terminal."""
    yes = {True: "yes", False: "no"}
    lines = ["V4L2 cameras:"]
    if not report.cameras:
        lines.append("  none found (/dev/video* is empty)")
    for cam in report.cameras:
        if cam.opened:
            lines.append(f"  {cam.device}: {cam.width}x{cam.height} {cam.fps:g} fps {cam.fourcc}")
        else:
            lines.append(f"  {cam.device}: cannot read frames (busy, or a metadata node)")
    lines += [
        f"onnxruntime {report.onnxruntime_version}, providers: "
        + ", ".join(report.onnxruntime_providers)
        + f"; asked for: {', '.join(report.requested_providers)}",
        f"OpenCV {report.opencv_version}: FFmpeg {yes[report.opencv_ffmpeg]}",
        f"GStreamer (PyGObject): {report.gstreamer}",
    ]
    lines += [f"{name}: {status}" for name, status in report.libraries.items()]
    for model in report.models:
        if not model.present:
            lines.append(f"model {model.name}: MISSING ({model.path})")
        elif model.error:
            lines.append(f"model {model.name}: cannot run ({model.error}; {model.path})")
        else:
            runs = ", ".join(f"{count} nodes on {provider}"
                             for provider, count in model.nodes.items())
            lines.append(f"model {model.name}: {runs} ({model.path})")
    return "\n".join(lines)
