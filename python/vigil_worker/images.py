"""Image headers: format and declared size, nothing decoded.

The runtime checks each job image with `sniff` before the engine sees it, so
an engine gets only images of a known format whose declared pixel count is
within the job's limit (the supervisor's front has checked the same, more
thoroughly, in src/image/sniff.cc; this is the worker's own guard). Decoding
stays the engine's business (PIL, its own library) and so do the errors of a
corrupt body: raise InvalidImageError.

Hand-written because the standard library reads no image header (imghdr,
removed in Python 3.13, never gave dimensions).
Thread-safety: pure functions.
"""
from __future__ import annotations

import struct

from vigil_worker.engine import ImageInfo
from vigil_worker.errors import BadInputError, ErrorCode


def _invalid(fmt: str, why: str) -> BadInputError:
    return BadInputError("invalid %s image: %s" % (fmt, why), ErrorCode.INVALID_IMAGE)


def _png(b: bytes) -> tuple[int, int]:
    if len(b) < 24 or b[12:16] != b"IHDR":
        raise _invalid("png", "no IHDR header")
    return struct.unpack(">II", b[16:24])


def _gif(b: bytes) -> tuple[int, int]:
    if len(b) < 10:
        raise _invalid("gif", "truncated header")
    return struct.unpack("<HH", b[6:10])


def _jpeg(b: bytes) -> tuple[int, int]:
    i = 2
    while True:
        while i < len(b) and b[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i + 3 > len(b):
            raise _invalid("jpeg", "truncated before its frame header")
        marker = b[i]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 1
            continue
        (length,) = struct.unpack(">H", b[i + 1:i + 3])
        if length < 2:
            raise _invalid("jpeg", "segment length %d" % length)
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 8 > len(b):
                raise _invalid("jpeg", "truncated frame header")
            height, width = struct.unpack(">HH", b[i + 4:i + 8])
            return width, height
        if marker == 0xDA:
            raise _invalid("jpeg", "scan before its frame header")
        i += 1 + length


def _webp(b: bytes) -> tuple[int, int]:
    if len(b) < 30:
        raise _invalid("webp", "truncated header")
    chunk = b[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(b[24:27], "little") + 1
        h = int.from_bytes(b[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L":
        bits = int.from_bytes(b[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        if b[23:26] != b"\x9d\x01\x2a":
            raise _invalid("webp", "bad VP8 start code")
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3FFF, h & 0x3FFF
    raise _invalid("webp", "unknown chunk %r" % chunk)


def detect_format(b: bytes) -> str | None:
    if b.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if b.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if b.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(b) >= 12 and b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        return "webp"
    return None


_READERS = {"png": _png, "gif": _gif, "jpeg": _jpeg, "webp": _webp}


def sniff(data: bytes, max_pixels: int) -> ImageInfo:
    """Format and declared size of an encoded image. Raises BadInputError with
    code unsupported_image_format, invalid_image or image_too_large."""
    fmt = detect_format(data)
    if fmt is None:
        raise BadInputError("not an image this worker reads (png, jpeg, webp or gif)",
                            ErrorCode.UNSUPPORTED_IMAGE_FORMAT)
    width, height = _READERS[fmt](data)
    if width <= 0 or height <= 0:
        raise _invalid(fmt, "declares %dx%d" % (width, height))
    if max_pixels > 0 and width * height > max_pixels:
        raise BadInputError("%s image declares %dx%d = %d pixels; the limit is %d" %
                            (fmt, width, height, width * height, max_pixels), ErrorCode.IMAGE_TOO_LARGE)
    return ImageInfo(fmt, width, height)
