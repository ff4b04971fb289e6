"""Reading sizes from PNG/JPEG headers and bounded decoding, on real registry photos."""

from __future__ import annotations

import base64
import struct

import cv2
import numpy as np
import pytest

from edge_daemon.sinks.websocket.images import (
    ImageError,
    data_url_bytes,
    decode_image,
    image_size,
)


@pytest.fixture(scope="module")
def photo(assets) -> np.ndarray:
    return cv2.imread(str(assets / "feat-test-data" / "multi_face.jpg"))


@pytest.mark.parametrize(("extension", "options", "fmt"), [
    (".png", [], "png"),
    (".jpg", [], "jpeg"),
    (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], "jpeg"),
    (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 30], "jpeg"),
])
def test_header_size_matches_the_decoded_image(photo, extension, options, fmt):
    crop = photo[10:333, 20:521]  # an odd size, so that width and height cannot be swapped
    data = cv2.imencode(extension, crop, options)[1].tobytes()
    size = image_size(data)
    assert (size.format, size.width, size.height) == (fmt, 501, 323)
    assert decode_image(data, max_pixels=501 * 323).shape == (323, 501, 3)


def test_registry_jpeg_file_with_its_own_segments(assets):
    data = (assets / "feat-test-data" / "0-f15-hao-ph.jpg").read_bytes()
    size = image_size(data)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert (size.height, size.width) == decoded.shape[:2]


def test_the_pixel_limit_is_checked_before_decoding(photo):
    data = cv2.imencode(".png", photo)[1].tobytes()
    h, w = photo.shape[:2]
    with pytest.raises(ImageError, match=rf"the image is {w} x {h} pixels, over the limit"):
        decode_image(data, max_pixels=w * h - 1)


def test_a_tampered_header_is_refused_as_corrupt(photo):
    data = bytearray(cv2.imencode(".png", photo[:50, :50])[1].tobytes())
    data[16:24] = struct.pack(">II", 10, 10)  # claims 10 x 10 (its CRC no longer matches)
    with pytest.raises(ImageError, match="the PNG image is corrupt"):
        decode_image(bytes(data), max_pixels=200)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "neither PNG nor JPEG"),
    (b"BM\x00\x00", "neither PNG nor JPEG"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG image is truncated"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image is truncated"),
    (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20, "no frame header before its data"),
    (b"\xff\xd8\x00\x00\x00\x00", "JPEG image is corrupt"),
])
def test_broken_headers_are_named(data, message):
    with pytest.raises(ImageError, match=message):
        image_size(data)


@pytest.mark.parametrize(("url", "message"), [
    (None, "must be a string"),
    ("iVBORw0KGgo=", "not a data URL"),
    ("data:image/png;base64", "has no ','"),
    ("data:text/html;base64,PGgxPg==", "not an image"),
    ("data:image/png,rawbytes", "not base64-encoded"),
    ("data:image/png;base64,@@@@", "malformed base64"),
    ("data:image/png;base64,", "holds no data"),
])
def test_bad_data_urls_are_named(url, message):
    with pytest.raises(ImageError, match=message):
        data_url_bytes(url)


def test_a_data_url_gives_its_bytes():
    assert data_url_bytes("data:image/jpeg;base64," + base64.b64encode(b"abc").decode()) == b"abc"
