"""`emotion-edge probe`: what this machine offers (cameras, providers, optional libraries)."""

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
from edge_daemon.inference.detectors.blazeface import default_model_path
from edge_daemon.sources.opencv import opencv_has_gstreamer, quiet_opencv


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
class ProbeReport:
    """Everything probe found."""

    cameras: list[CameraProbe] = field(default_factory=list)
    onnxruntime_version: str = ""
    onnxruntime_providers: list[str] = field(default_factory=list)
    opencv_version: str = ""
    opencv_gstreamer: bool = False
    opencv_ffmpeg: bool = False
    libraries: dict[str, str] = field(default_factory=dict)  # name -> version or why not
    models: dict[str, bool] = field(default_factory=dict)  # bundled model -> present

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


def run_probe(camera_pattern: str = "/dev/video*") -> ProbeReport:
    """Probe cameras, onnxruntime, OpenCV, optional libraries and the bundled models."""
    quiet_opencv()
    build = cv2.getBuildInformation()
    bundled: dict[str, Path] = {
        "classifier (default)": ClassifierConfig().model_path(),
        "blazeface short": default_model_path("short"),
        "blazeface full": default_model_path("full"),
    }
    return ProbeReport(
        cameras=probe_v4l2(camera_pattern),
        onnxruntime_version=ort.__version__,
        onnxruntime_providers=list(ort.get_available_providers()),
        opencv_version=cv2.__version__,
        opencv_gstreamer=opencv_has_gstreamer(),
        opencv_ffmpeg=re.search(r"^\s*FFMPEG:\s*YES", build, re.MULTILINE) is not None,
        libraries={name: library_status(name) for name in ("picamera2", "mediapipe")},
        models={f"{name}: {path}": path.is_file() for name, path in bundled.items()},
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
        + ", ".join(report.onnxruntime_providers),
        f"OpenCV {report.opencv_version}: GStreamer {yes[report.opencv_gstreamer]}, "
        f"FFmpeg {yes[report.opencv_ffmpeg]}",
    ]
    lines += [f"{name}: {status}" for name, status in report.libraries.items()]
    lines += [f"model {name}: {'present' if ok else 'MISSING'}"
              for name, ok in report.models.items()]
    return "\n".join(lines)
