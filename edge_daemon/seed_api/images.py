"""Images sent by clients: data URLs, WebP/PNG/JPEG header sizes and bounded decoding.

The pixel limit is checked on the size written in the file's header BEFORE decoding:
cv2.imdecode allocates width x height x 3 bytes first, so a 50 kB PNG that claims
60000 x 60000 pixels would cost gigabytes (a decompression bomb). WebP, PNG and JPEG are
accepted: what a browser's canvas.toDataURL produces (react-webcam's getScreenshot, which
the seed's clients use, asks for WebP by default); their headers are simple to read.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
RIFF, WEBP = b"RIFF", b"WEBP"
_WEBP_IMAGE_CHUNKS = (b"VP8 ", b"VP8L")
_WEBP_ANIMATION_CHUNKS = (b"ANIM", b"ANMF")
# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD9)])  # TEM, RSTn, SOI: no length field
_JPEG_SOS = 0xDA
_JPEG_EOI = 0xD9
# A corrupt PNG chunk length kept cv2.imdecode busy 8-12 s on a 318-byte image (issue 13):
# the chunk structure and every CRC are checked first, which costs microseconds. JPEG: the
# marker structure is walked to the end; progressive files with hundreds of scans decode
# slowly, and real ones (cameras, canvas.toDataURL) have at most a dozen.
MAX_JPEG_SCANS = 64


class ImageError(ValueError):
    """A client's image cannot be used; the message says why, in one line."""


@dataclass(frozen=True)
class ImageSize:
    """An encoded image's format and pixel size, read from its header."""

    format: str  # "webp", "png" or "jpeg"
    width: int
    height: int

    @property
    def pixels(self) -> int:
        """Width times height."""
        return self.width * self.height


def data_url_bytes(url: object) -> bytes:
    """The bytes of a `data:image/...;base64,...` URL."""
    if not isinstance(url, str):
        raise ImageError(f"data.image must be a string (a data URL), not {type(url).__name__}")
    if not url.startswith("data:"):
        raise ImageError("data.image is not a data URL (expected data:image/png;base64,...)")
    header, comma, payload = url.partition(",")
    if not comma:
        raise ImageError("data.image has no ',' between the data URL's header and its data")
    media_type, *params = header[len("data:"):].split(";")
    if not media_type.lower().startswith("image/"):
        raise ImageError(f"the data URL is not an image (media type {media_type or 'none'!r})")
    if "base64" not in (p.strip().lower() for p in params):
        raise ImageError("the data URL is not base64-encoded (expected ';base64,')")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"malformed base64 in the data URL: {exc}") from None
    if not data:
        raise ImageError("the data URL holds no data")
    return data


def image_size(data: bytes) -> ImageSize:
    """Format and size from a WebP, PNG or JPEG header, without decoding any pixels."""
    if data.startswith(PNG_SIGNATURE):
        # The first chunk must be IHDR: length (4), type (4), width (4), height (4).
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageError("the PNG image is truncated or has no IHDR header")
        width, height = struct.unpack(">II", data[16:24])
        return _checked(ImageSize("png", width, height))
    if data.startswith(JPEG_SOI):
        return _checked(_jpeg_size(data))
    if data[:4] == RIFF and data[8:12] == WEBP:
        return _checked(_webp_size(data))
    raise ImageError("the image is not WebP, PNG or JPEG")


def _webp_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(FourCC, payload start, payload length) of every chunk; the RIFF sizes must add up."""
    if len(data) < 20:
        raise ImageError("the WebP image is truncated (no chunk after its header)")
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 != len(data):
        raise ImageError(f"the WebP image is corrupt or truncated: its header says "
                         f"{riff_size + 8} bytes, the data holds {len(data)}")
    chunks, pos = [], 12
    while pos < len(data):
        if pos + 8 > len(data):
            raise ImageError(f"the WebP image is corrupt: a chunk header is cut at byte {pos}")
        kind = data[pos:pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4:pos + 8])
        if pos + 8 + length > len(data):
            raise ImageError(f"the WebP image is corrupt: chunk {kind!r} at byte {pos} claims "
                             f"{length} bytes, more than the file holds")
        chunks.append((kind, pos + 8, length))
        pos += 8 + length + (length & 1)  # payloads are padded to an even length
    return chunks


def _webp_size(data: bytes) -> ImageSize:
    chunks = _webp_chunks(data)
    kinds = [kind for kind, _, _ in chunks]
    if any(kind in _WEBP_ANIMATION_CHUNKS for kind in kinds):
        raise ImageError("the WebP image is animated; send one still image")
    image = next(((k, start, n) for k, start, n in chunks if k in _WEBP_IMAGE_CHUNKS), None)
    if image is None:
        raise ImageError("the WebP image has no image data (no VP8 or VP8L chunk)")
    kind, start, length = image
    if kind == b"VP8L":  # lossless: 0x2f, then 14-bit width-1 and height-1
        if length < 5 or data[start] != 0x2F:
            raise ImageError("the WebP image is corrupt (bad lossless header)")
        (bits,) = struct.unpack("<I", data[start + 1:start + 5])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:  # lossy: a 3-byte frame tag, the start code 9d 01 2a, 14-bit width and height
        if length < 10 or data[start + 3:start + 6] != b"\x9d\x01\x2a":
            raise ImageError("the WebP image is corrupt (bad lossy frame header)")
        w, h = struct.unpack("<HH", data[start + 6:start + 10])
        width, height = w & 0x3FFF, h & 0x3FFF
    if kinds[0] == b"VP8X":  # extended: the canvas size, which must hold the image
        _, vstart, vlength = chunks[0]
        if vlength < 10:
            raise ImageError("the WebP image is corrupt (bad extended header)")
        head = data[vstart + 4:vstart + 10]
        canvas_w = int.from_bytes(head[0:3], "little") + 1
        canvas_h = int.from_bytes(head[3:6], "little") + 1
        if width > canvas_w or height > canvas_h:
            raise ImageError("the WebP image is corrupt: its image is larger than its canvas")
        width, height = canvas_w, canvas_h
    return ImageSize("webp", width, height)


def _jpeg_size(data: bytes) -> ImageSize:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError(f"the JPEG image is corrupt (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return ImageSize("jpeg", width, height)
        if marker == _JPEG_SOS or length < 2:
            raise ImageError("the JPEG image has no frame header before its data")
        pos += 2 + length
    raise ImageError("the JPEG image is truncated before its frame header")


def _checked(size: ImageSize) -> ImageSize:
    if size.width == 0 or size.height == 0:
        raise ImageError(f"the {size.format.upper()} header gives an empty image "
                         f"({size.width} x {size.height})")
    return size


def check_png_chunks(data: bytes) -> None:
    """Refuse a PNG whose chunks do not add up: IHDR first, lengths within the file, CRCs
    right, IDAT present, IEND last."""
    pos, first, seen_idat = len(PNG_SIGNATURE), True, False
    while True:
        if pos + 12 > len(data):
            raise ImageError(f"the PNG image is truncated (no IEND chunk; ends at byte {pos})")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ImageError(f"the PNG image is corrupt: chunk {kind!r} at byte {pos} claims "
                             f"{length} bytes, more than the file holds")
        if first and kind != b"IHDR":
            raise ImageError("the PNG image is corrupt: its first chunk is not IHDR")
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(data[pos + 4:end - 4]) != crc:
            raise ImageError(f"the PNG image is corrupt: chunk {kind!r} at byte {pos} fails "
                             "its CRC check")
        seen_idat |= kind == b"IDAT"
        if kind == b"IEND":
            if not seen_idat:
                raise ImageError("the PNG image is corrupt: it has no image data (IDAT)")
            return
        first, pos = False, end


def check_jpeg_markers(data: bytes) -> None:
    """Refuse a JPEG whose markers do not lead to its end, or with too many scans."""
    pos, scans = 2, 0
    while pos + 2 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError(f"the JPEG image is corrupt (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == _JPEG_EOI:
            return
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > len(data):
            break
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2:
            raise ImageError(f"the JPEG image is corrupt (segment length {length} at byte {pos})")
        pos += 2 + length
        if marker == _JPEG_SOS:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise ImageError(f"the JPEG image has more than {MAX_JPEG_SCANS} scans")
            pos = _after_entropy_data(data, pos)
    raise ImageError("the JPEG image is truncated (no end-of-image marker)")


def _after_entropy_data(data: bytes, pos: int) -> int:
    """The position of the first marker after a scan's entropy-coded data."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        # 0xFF 0x00 is an escaped data byte, RSTn markers belong to the scan.
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1 if following == 0xFF else 2
            continue
        return pos


def check_structure(data: bytes, size: ImageSize) -> None:
    """Cheap structural checks that keep malformed files away from the decoder.

    WebP's chunk structure was walked to its end by image_size already (the RIFF sizes must
    add up exactly); libwebp checks the rest as it decodes, and bounds its own work.
    """
    if size.format == "png":
        check_png_chunks(data)
    elif size.format == "jpeg":
        check_jpeg_markers(data)


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """A BGR uint8 image from WebP, PNG or JPEG bytes, refusing more than max_pixels pixels."""
    size = image_size(data)
    check_structure(data, size)
    if size.pixels > max_pixels:
        raise ImageError(f"the image is {size.width} x {size.height} pixels, over the limit "
                         f"of {max_pixels} (websocket.max_image_pixels)")
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None:
        raise ImageError(f"the {size.format.upper()} image is corrupt (cannot be decoded)")
    if image.shape[0] * image.shape[1] > max_pixels:  # a header that lied
        raise ImageError("the decoded image is larger than its header said")
    return image
