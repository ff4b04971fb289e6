"""GStreamer pipelines through PyGObject's appsink: CSI cameras, RTSP, anything gst-launch runs.

Frames are pulled from the pipeline's appsink with GStreamer's own Python bindings (gi), not
through OpenCV: PyPI's OpenCV is built without GStreamer, and a distribution's OpenCV cannot
share a venv with PyPI's NumPy (docs/install.md has the story). The system's gi comes from
the distribution (python3-gi, gir1.2-gstreamer-1.0); tools/install.sh links it into the venv.

The appsink keeps one buffer and drops older ones (the capture machinery's newest-frame
slot does the rest), and is asked for BGR unless the pipeline gives it caps of its own.
No GLib main loop is needed: samples are pulled and the bus is polled from the capture
thread, with a timeout, so that a dead pipeline ends the read instead of hanging it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import numpy as np

from edge_daemon.config.cameras import CameraConfig, GStreamerSourceConfig
from edge_daemon.sources.capture import CaptureSource, SourceOpenError, SourceUnavailableError

PULL_TIMEOUT_S = 0.25  # how often a waiting read looks at the bus and the clock
APT_PACKAGES = ("python3-gi gir1.2-gstreamer-1.0 gstreamer1.0-plugins-base "
                "gstreamer1.0-plugins-good")
# Packed formats an appsink may be given, as (channels, order of B, G, R in a pixel).
FORMATS: dict[str, tuple[int, tuple[int, int, int]]] = {
    "BGR": (3, (0, 1, 2)), "RGB": (3, (2, 1, 0)),
    "BGRx": (4, (0, 1, 2)), "BGRA": (4, (0, 1, 2)),
    "RGBx": (4, (2, 1, 0)), "RGBA": (4, (2, 1, 0)),
    "xRGB": (4, (3, 2, 1)), "ARGB": (4, (3, 2, 1)),
    "xBGR": (4, (1, 2, 3)), "ABGR": (4, (1, 2, 3)),
    "GRAY8": (1, (0, 0, 0)),
}

_init_lock = threading.Lock()
_gst: Any = None


def load_gst() -> Any:
    """GStreamer's Python module, initialised; SourceUnavailableError saying what to install."""
    global _gst
    with _init_lock:
        if _gst is not None:
            return _gst
        try:
            import gi  # the distribution's PyGObject; optional, imported when configured
        except ImportError:
            raise SourceUnavailableError(
                f"GStreamer sources need PyGObject (gi), which this Python cannot import: "
                f"install {APT_PACKAGES} (apt), then run tools/install.sh again: it links "
                f"the system's gi into the venv") from None
        try:
            gi.require_version("Gst", "1.0")
            from gi.repository import Gst
        except (ValueError, ImportError) as exc:
            raise SourceUnavailableError(
                f"PyGObject is there but GStreamer's introspection data is not ({exc}): "
                f"install gir1.2-gstreamer-1.0 (apt)") from None
        ok, _ = Gst.init_check(None)
        if not ok:
            raise SourceUnavailableError("GStreamer failed to initialise (Gst.init_check)")
        _gst = Gst
        return Gst


def gstreamer_version() -> str:
    """GStreamer's version through gi, or why it is not usable."""
    try:
        return load_gst().version_string()
    except SourceUnavailableError as exc:
        return f"not usable ({exc})"


def parse_pipeline(description: str) -> tuple[Any, Any]:
    """(pipeline, its appsink) from a gst-launch description; SourceUnavailableError if bad.

    Unknown elements, missing plugins, links that cannot be made and a missing appsink are
    all found here, before anything starts: they are config errors, not retried.
    """
    gst = load_gst()
    try:
        pipeline = gst.parse_launch(description)
    except Exception as exc:  # GLib.Error; gi's exception type is not importable before gi
        message = getattr(exc, "message", None) or str(exc)
        hint = ""
        if "no element" in message:
            hint = (" (a misspelt element, or its plugin package is not installed: "
                    "`gst-inspect-1.0 NAME` tells which)")
        raise SourceUnavailableError(f"GStreamer pipeline: {message}{hint}") from None
    sinks = [e for e in _sink_elements(gst, pipeline)
             if e.get_factory() is not None and e.get_factory().get_name() == "appsink"]
    if len(sinks) != 1:
        last = description.rsplit("!", 1)[-1].strip().split(" ")[0]
        what = (f"it ends in {last!r}, not an appsink" if not sinks
                else f"it has {len(sinks)} appsinks, one is read")
        pipeline.set_state(gst.State.NULL)
        raise SourceUnavailableError(f"GStreamer pipeline: {what}")
    return pipeline, sinks[0]


def _sink_elements(gst: Any, pipeline: Any) -> list[Any]:
    if not isinstance(pipeline, gst.Bin):  # a one-element description is no bin
        return [pipeline]
    found, iterator = [], pipeline.iterate_sinks()
    while True:
        result, element = iterator.next()
        if result == gst.IteratorResult.RESYNC:
            found, _ = [], iterator.resync()
            continue
        if result != gst.IteratorResult.OK:
            return found
        found.append(element)


def sample_to_bgr(gst: Any, sample: Any) -> np.ndarray:
    """A sample of a packed RGB or gray format as a BGR (or gray) image, copied off the buffer.

    Rows may be padded (GStreamer aligns them to 4 bytes): the stride is the buffer's size
    over its height.
    """
    structure = sample.get_caps().get_structure(0)
    fmt = structure.get_value("format")
    width, height = structure.get_value("width"), structure.get_value("height")
    if fmt not in FORMATS:
        known = ", ".join(FORMATS)
        raise ValueError(f"the appsink got {fmt} frames; give it one of {known} "
                         f"(end the pipeline in `videoconvert ! appsink`)")
    channels, order = FORMATS[fmt]
    buffer = sample.get_buffer()
    ok, mapped = buffer.map(gst.MapFlags.READ)
    if not ok:
        raise ValueError("cannot map the frame's buffer")
    try:
        data = np.frombuffer(mapped.data, np.uint8)
        stride = data.size // height
        if stride < width * channels:
            raise ValueError(f"a {width}x{height} {fmt} frame of only {data.size} bytes")
        rows = data[: stride * height].reshape(height, stride)
        pixels = rows[:, : width * channels].reshape(height, width, channels)
        if channels == 1:
            return pixels[:, :, 0].copy()
        if order == (0, 1, 2) and channels == 3:
            return pixels.copy()
        return np.ascontiguousarray(pixels[:, :, list(order)])
    finally:
        buffer.unmap(mapped)


class GStreamerCapture:
    """A playing pipeline as a Capture: read() pulls the appsink's newest sample."""

    def __init__(self, gst: Any, pipeline: Any, appsink: Any, what: str,
                 read_timeout_s: float) -> None:
        self.gst = gst
        self.pipeline = pipeline
        self.appsink = appsink
        self.what = what
        self.read_timeout_s = read_timeout_s
        self.ended = False
        self.error = ""
        self.bus = pipeline.get_bus()

    def read(self) -> np.ndarray | None:
        """The next frame; None (with `error` set) on an error, end of stream or a long wait."""
        gst = self.gst
        # A little before the capture watcher would call the attempt stalled, so that the
        # line says what GStreamer knows (opened, but no frame) instead of a bare "stalled".
        deadline = time.monotonic() + max(self.read_timeout_s - 0.5, self.read_timeout_s / 2)
        while True:
            sample = self.appsink.emit("try-pull-sample", int(PULL_TIMEOUT_S * gst.SECOND))
            if sample is not None:
                try:
                    return sample_to_bgr(gst, sample)
                except ValueError as exc:
                    self.error = f"{self.what}: {exc}"
                    return None
            problem = self.bus_problem()
            if problem:
                self.error = problem
                return None
            if time.monotonic() > deadline:
                self.error = f"{self.what}: no frame for {self.read_timeout_s:g} s"
                return None

    def bus_problem(self) -> str:
        """An error or end of stream the pipeline posted, as one line; '' if none."""
        gst = self.gst
        message = self.bus.pop_filtered(gst.MessageType.ERROR | gst.MessageType.EOS)
        if message is None:
            return ""
        if message.type == gst.MessageType.EOS:
            return f"{self.what}: end of stream"
        error, debug = message.parse_error()
        text = f"{self.what}: {message.src.get_name()}: {error.message.rstrip('.')}"
        if "not-negotiated" in (debug or ""):
            text += (" (not-negotiated: the appsink is given a format it cannot read; end the "
                     "pipeline in `videoconvert ! appsink`)")
        return text

    def release(self) -> None:
        """Stop the pipeline and free its elements."""
        self.pipeline.set_state(self.gst.State.NULL)


class GStreamerSource(CaptureSource):
    """A gst-launch pipeline description that ends in an appsink."""

    kind: ClassVar[str] = "gstreamer"
    settings_type: ClassVar[type] = GStreamerSourceConfig
    settings: GStreamerSourceConfig

    def __init__(self, name: str, camera: CameraConfig) -> None:
        super().__init__(name, camera)
        # A bad element or a missing plugin is a config error: found now, not at every retry.
        pipeline, _ = parse_pipeline(self.settings.pipeline)
        pipeline.set_state(load_gst().State.NULL)

    @classmethod
    def check_available(cls) -> None:
        """Refuse at once when PyGObject or GStreamer's introspection data is missing."""
        load_gst()

    def describe(self) -> str:
        """The pipeline's first element."""
        return "GStreamer pipeline " + self.settings.pipeline.split("!")[0].strip()

    def open_capture(self) -> GStreamerCapture:
        """Build the pipeline and set it playing; SourceOpenError if it will not start."""
        gst = load_gst()
        pipeline, appsink = parse_pipeline(self.settings.pipeline)
        if appsink.get_property("caps") is None:
            # BGR first: a videoconvert before the appsink then converts to it; a pipeline
            # that fixes another format we read (a caps filter) still links.
            formats = ",".join(FORMATS)
            appsink.set_property("caps", gst.Caps.from_string(f"video/x-raw,format={{{formats}}}"))
        appsink.set_property("max-buffers", 1)
        appsink.set_property("drop", True)
        capture = GStreamerCapture(gst, pipeline, appsink, self.describe(),
                                   self.camera.stall_timeout_s)
        if pipeline.set_state(gst.State.PLAYING) == gst.StateChangeReturn.FAILURE:
            problem = capture.bus_problem() or f"{self.describe()}: it refused to start"
            capture.release()
            raise SourceOpenError(f"cannot start {problem}")
        return capture
