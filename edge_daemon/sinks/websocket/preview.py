"""Preview images for the live page: a frame scaled down and encoded as a JPEG data URL."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from edge_daemon.sinks.websocket.stream import compact


def preview_message(camera: str, frame_index: int, image: np.ndarray, max_width: int,
                    quality: int) -> str:
    """The stream's `preview` message for one BGR frame (at most max_width pixels wide)."""
    height, width = image.shape[:2]
    if width > max_width:
        size = (max_width, max(1, round(height * max_width / width)))
        # INTER_AREA: downscaling without the aliasing of INTER_LINEAR.
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"camera {camera}: frame {frame_index} could not be JPEG-encoded")
    return compact({
        "type": "preview", "camera": camera, "frame": frame_index,
        "width": width, "height": height,
        "image": "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii"),
    })
