"""Reading sizes from WebP/PNG/JPEG headers and bounded decoding, on real registry photos."""

from __future__ import annotations

import base64
import struct

import cv2
import numpy as np
import pytest

from edge_daemon.seed_api.images import ImageError, data_url_bytes, decode_image, image_size


@pytest.fixture(scope="module")
def photo(assets) -> np.ndarray:
    return cv2.imread(str(assets / "feat-test-data" / "multi_face.jpg"))


@pytest.mark.parametrize(("extension", "options", "fmt"), [
    (".png", [], "png"),
    (".jpg", [], "jpeg"),
    (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], "jpeg"),
    (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 30], "jpeg"),
    (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80], "webp"),  # lossy: a VP8 chunk
    (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101], "webp"),  # lossless: a VP8L chunk
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
    (b"", "not WebP, PNG or JPEG"),
    (b"BM\x00\x00", "not WebP, PNG or JPEG"),
    (b"RIFF\x04\x00\x00\x00WEBP", "WebP image is truncated"),
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


def _png_chunks(photo) -> bytearray:
    return bytearray(cv2.imencode(".png", photo[:40, :40])[1].tobytes())


def test_a_png_whose_chunk_length_lies_is_refused_before_decoding(photo):
    data = _png_chunks(photo)
    at = data.find(b"IDAT") - 4
    data[at:at + 4] = struct.pack(">I", 1_000_000)
    with pytest.raises(ImageError, match="claims 1000000 bytes"):
        decode_image(bytes(data), max_pixels=10_000)


def test_a_png_chunk_with_a_wrong_crc_is_refused(photo):
    data = _png_chunks(photo)
    at = data.find(b"IDAT") + 10
    data[at] ^= 0xFF  # one flipped byte inside the compressed data
    with pytest.raises(ImageError, match="fails its CRC check"):
        decode_image(bytes(data), max_pixels=10_000)


def test_a_png_cut_before_iend_is_truncated(photo):
    data = bytes(_png_chunks(photo))
    with pytest.raises(ImageError, match="truncated"):
        decode_image(data[:-12], max_pixels=10_000)


def test_progressive_and_baseline_jpegs_pass_and_a_cut_one_does_not(photo):
    for options in ([], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]):
        data = cv2.imencode(".jpg", photo, options)[1].tobytes()
        assert decode_image(data, max_pixels=10**7).shape == photo.shape
        with pytest.raises(ImageError, match="truncated"):
            decode_image(data[: len(data) // 2], max_pixels=10**7)


def test_a_jpeg_with_hundreds_of_scans_is_refused(photo):
    data = cv2.imencode(".jpg", photo[:16, :16], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    sos = data.find(b"\xff\xda")
    (length,) = struct.unpack(">H", data[sos + 2:sos + 4])
    scan = data[sos:sos + 2 + length] + b"\x00\x00"  # a scan header and two data bytes
    bomb = data[:sos] + scan * 200 + b"\xff\xd9"
    with pytest.raises(ImageError, match="more than 64 scans"):
        decode_image(bomb, max_pixels=10**7)


def _riff(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"WEBP" + b"".join(kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)
                              for kind, data in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _vp8x(width: int, height: int, flags: int = 0) -> tuple[bytes, bytes]:
    return b"VP8X", bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (
        height - 1).to_bytes(3, "little")


def test_webp_sizes_come_from_the_header_and_the_riff_sizes_must_add_up(photo):
    data = cv2.imencode(".webp", photo[:40, :60])[1].tobytes()
    kind, length = data[12:16], struct.unpack("<I", data[16:20])[0]
    assert image_size(data).pixels == 40 * 60
    with pytest.raises(ImageError, match="corrupt or truncated: its header says"):
        image_size(data[:-5])
    # The same image inside an extended header (as a canvas with alpha makes): the canvas
    # size counts, and a canvas smaller than its image is refused.
    image = (kind, data[20:20 + length])
    assert image_size(_riff(_vp8x(60, 40), image)).pixels == 60 * 40
    with pytest.raises(ImageError, match="larger than its canvas"):
        image_size(_riff(_vp8x(30, 20), image))


def test_a_webp_bomb_is_refused_from_its_header():
    lossless = b"\x2f" + struct.pack("<I", (16383 & 0x3FFF) | (16383 << 14)) + b"\0" * 20
    data = _riff((b"VP8L", lossless))
    assert image_size(data).pixels == 16384 * 16384
    with pytest.raises(ImageError, match="the image is 16384 x 16384 pixels, over the limit"):
        decode_image(data, max_pixels=8_294_400)


@pytest.mark.parametrize(("chunks", "message"), [
    ([(b"ANIM", b"\0" * 6), (b"ANMF", b"\0" * 16)], "animated"),
    ([(b"EXIF", b"\0" * 8)], "no image data"),
    ([(b"VP8L", b"\x00\x00\x00\x00\x00")], "bad lossless header"),
    ([(b"VP8 ", b"\0" * 10)], "bad lossy frame header"),
])
def test_broken_webp_files_are_named(chunks, message):
    with pytest.raises(ImageError, match=message):
        image_size(_riff(*chunks))
