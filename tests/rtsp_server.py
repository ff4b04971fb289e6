"""A real RTSP server (gst-rtsp-server) for the tests: python rtsp_server.py PORT LAUNCH.

Serves LAUNCH (a gst-launch description ending in a payloader named pay0) at
rtsp://127.0.0.1:PORT/cam until killed. Run as its own process so that a test can take the
server away and bring it back on the same port.
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 - after require_version


def main() -> None:
    """Serve until killed."""
    port, launch = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {launch} )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on port {port}")
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
