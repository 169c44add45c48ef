"""Image header sniffing: format, declared size, typed errors."""
from __future__ import annotations

import struct
import unittest
import zlib

from vigil_worker import images
from vigil_worker.errors import EngineError, ErrorCode


def png(w: int, h: int) -> bytes:
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def jpeg(w: int, h: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


class Sniff(unittest.TestCase):
    def test_formats_and_sizes(self):
        cases = {
            "png": png(16, 9),
            "jpeg": jpeg(640, 480),
            "gif": b"GIF89a" + struct.pack("<HH", 7, 5) + b"\x00" * 8,
            "webp": b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x0a\x00\x00\x00" + b"\x00" * 4 +
                    (99).to_bytes(3, "little") + (49).to_bytes(3, "little"),
        }
        want = {"png": (16, 9), "jpeg": (640, 480), "gif": (7, 5), "webp": (100, 50)}
        for fmt, data in cases.items():
            info = images.sniff(data, 0)
            self.assertEqual((info.format, info.width, info.height), (fmt,) + want[fmt])

    def assert_code(self, data: bytes, code: ErrorCode, max_pixels: int = 0):
        with self.assertRaises(EngineError) as e:
            images.sniff(data, max_pixels)
        self.assertEqual(e.exception.code, code)
        self.assertTrue(e.exception.message)

    def test_typed_errors(self):
        self.assert_code(b"just some text", ErrorCode.UNSUPPORTED_IMAGE_FORMAT)
        self.assert_code(b"BM" + b"\x00" * 60, ErrorCode.UNSUPPORTED_IMAGE_FORMAT)
        self.assert_code(png(16, 9)[:20], ErrorCode.INVALID_IMAGE)
        self.assert_code(jpeg(10, 10)[:12], ErrorCode.INVALID_IMAGE)
        self.assert_code(png(0, 9), ErrorCode.INVALID_IMAGE)
        self.assert_code(png(100000, 100000), ErrorCode.IMAGE_TOO_LARGE, max_pixels=50_000_000)


if __name__ == "__main__":
    unittest.main()
