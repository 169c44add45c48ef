#!/usr/bin/env python3
"""The bad-input corpus of issue 4, made here (PIL, zlib, struct), sent to the
real `vigil serve --engine chaos`: every entry gets the status AND error type
of the table in docs/http-api.md ("The bad-input table"); a normal request
interleaved after every few bad ones is served; no bad input kills a worker
(vigil_worker_restarts_total and the worker pids do not change across the
whole corpus); the log has no crash line.

    python3 tests/e2e/bad_input_test.py --vigil build/bin/vigil
    python3 tests/e2e/bad_input_test.py --vigil build/bin/vigil --table   # print what each entry gets
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import random
import struct
import sys
import unittest
import zlib

from vigil_e2e import Server, multipart, png, sse_events

VIGIL = "vigil"
PRINT_TABLE = False
OK = (200, None)
INVALID = (422, "invalid_image")
TOO_LARGE = (422, "image_too_large")
UNSUPPORTED = (415, "unsupported_image_format")
BAD = (400, "invalid_request")
PAYLOAD = (413, "payload_too_large")
INTERLEAVE = 4  # a normal request after every INTERLEAVE bad ones


# --- the corpus ---------------------------------------------------------------

def chunk(t: bytes, d: bytes) -> bytes:
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png_raw(w: int, h: int, depth: int, color: int, rows: bytes, extra: bytes = b"") -> bytes:
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)) + extra +
            chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def png_interlaced(w: int, h: int) -> bytes:
    """An Adam7-interlaced RGB PNG: the seven passes' rows, each filtered with type 0."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    rows = b""
    for x0, y0, dx, dy in passes:
        pw, ph = len(range(x0, w, dx)), len(range(y0, h, dy))
        if pw and ph:
            rows += (b"\x00" + b"\x30\x60\x90" * pw) * ph
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) +
            chunk(b"IEND", b""))


def noisy(w: int = 48, h: int = 32, mode: str = "RGB"):
    """A deterministic picture with detail, so encoded files are big enough to cut in many places."""
    from PIL import Image
    rng = random.Random(7)
    im = Image.new("RGB", (w, h))
    im.putdata([(x * 5 % 256, y * 7 % 256, rng.randrange(256)) for y in range(h) for x in range(w)])
    return im.convert(mode) if mode != "RGB" else im


def save(im, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    im.save(out, format=fmt, **kw)
    return out.getvalue()


def good_files() -> dict:
    return {"png": save(noisy(), "PNG"), "jpeg": save(noisy(), "JPEG", quality=90),
            "webp": save(noisy(), "WEBP", quality=80), "gif": save(noisy(), "GIF")}


def flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def webp_vp8l_declaring(w: int, h: int) -> bytes:
    """A lossless WebP whose header declares w x h (each <= 16384) over 6 bytes of data."""
    bits = (w - 1) | ((h - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits) + b"\x00"
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8x_declaring(w: int, h: int, inner: bytes) -> bytes:
    """An extended WebP whose canvas says w x h around the bitstream chunks of `inner`."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (w - 1).to_bytes(3, "little") + \
        (h - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + inner[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8_declaring(w: int, h: int) -> bytes:
    """A lossy WebP whose key-frame header declares w x h (each <= 16383) over 10 bytes."""
    payload = b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", w, h)
    body = b"WEBP" + b"VP8 " + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif_declaring(screen_w: int, screen_h: int, frame_w: int, frame_h: int) -> bytes:
    """A GIF whose screen and only frame declare the given sizes over a few bytes of LZW."""
    return (b"GIF89a" + struct.pack("<HHBBB", screen_w, screen_h, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff" +
            b"\x2c" + struct.pack("<HHHHB", 0, 0, frame_w, frame_h, 0) + b"\x02\x02\x44\x01\x00" + b"\x3b")


def jpeg_lying(data: bytes, w: int, h: int) -> bytes:
    """The JPEG with its SOF0 size rewritten (the scan data stays for the old size)."""
    i = data.index(b"\xff\xc0")
    return data[:i + 5] + struct.pack(">HH", h, w) + data[i + 9:]


def image_corpus() -> list:
    """(name, image bytes, (status, error type)) for the JSON base64 route."""
    from PIL import Image
    files = good_files()
    c = []
    # Truncated, at several points past the magic bytes (a cut inside the magic is 415, below).
    for fmt, data in files.items():
        for frac in (0.3, 0.6, 0.9):
            c.append(("truncated %s at %d%%" % (fmt, frac * 100), data[:int(len(data) * frac)], INVALID))
        c.append(("truncated %s by its last byte" % fmt, data[:-1], INVALID))
    c.append(("truncated png inside the magic", files["png"][:5], UNSUPPORTED))
    # Bit flips in the headers the supervisor checks: caught there.
    c.append(("png with a bit flipped in IHDR (CRC mismatch)", flip(files["png"], 18 * 8 + 1), INVALID))
    c.append(("png with a bit flipped in a chunk type", flip(files["png"], 37 * 8 + 5), INVALID))
    c.append(("jpeg with a bit flipped in a segment length", flip(files["jpeg"], 4 * 8 + 7), INVALID))
    c.append(("webp with a bit flipped in the RIFF size", flip(files["webp"], 7 * 8 + 6), INVALID))
    c.append(("gif with a bit flipped in the trailer", flip(files["gif"], (len(files["gif"]) - 1) * 8 + 2), INVALID))
    # Bit flips in the compressed data: the worker's decoder decides (never a crash).
    png_data = files["png"]
    idat = png_data.index(b"IDAT") + 4
    c.append(("png with a bit flipped in IDAT (chunk CRC mismatch)", flip(png_data, (idat + 20) * 8 + 3), INVALID))
    c.append(("webp with a bit flipped in the VP8 data", flip(files["webp"], (len(files["webp"]) - 40) * 8),
              "any_image"))
    c.append(("jpeg with a bit flipped in the scan", flip(files["jpeg"], (len(files["jpeg"]) - 60) * 8 + 4),
              "any_image"))
    c.append(("gif with a bit flipped in the LZW data", flip(files["gif"], (len(files["gif"]) - 30) * 8 + 1),
              "any_image"))
    # Headers that lie about the size.
    good = png(8, 8)
    c.append(("png declaring 64x64 over 8x8 data (valid CRC)",
              png_raw(64, 64, 8, 2, b"".join(b"\x00" + b"\x10\x20\x30" * 8 for _ in range(8))), INVALID))
    c.append(("png declaring 0x8", png_raw(0, 8, 8, 2, b"\x00" * 8), INVALID))
    c.append(("png declaring 2^31x1", png_raw(2 ** 31, 1, 8, 2, b"\x00" * 4), INVALID))
    c.append(("png with bit depth 3", png_raw(8, 8, 3, 2, b"\x00" * 8), INVALID))
    c.append(("jpeg whose SOF says 4000x3000 over 48x32 data", jpeg_lying(files["jpeg"], 4000, 3000), INVALID))
    c.append(("jpeg whose SOF says 0 wide", jpeg_lying(files["jpeg"], 0, 32), INVALID))
    c.append(("webp whose VP8X canvas differs from the bitstream", webp_vp8x_declaring(300, 200, files["webp"]),
              INVALID))
    c.append(("webp whose RIFF size lies (too big)",
              files["webp"][:4] + struct.pack("<I", len(files["webp"]) * 4) + files["webp"][8:], INVALID))
    c.append(("gif whose frame lies past the screen", gif_declaring(4, 4, 4000, 3000), INVALID))
    # Decompression bombs.
    c.append(("png declaring 100000x100000 (bomb)", png_raw(100000, 100000, 8, 2, b"\x00" * 64), TOO_LARGE))
    c.append(("webp declaring 16383x16383 over 6 bytes", webp_vp8l_declaring(16383, 16383), TOO_LARGE))
    c.append(("webp VP8X canvas 16777216x16777216 around a 48x32 bitstream (lies first)",
              webp_vp8x_declaring(1 << 24, 1 << 24, files["webp"]), INVALID))
    c.append(("lossy webp (VP8) declaring 16383x16383 over 10 bytes", webp_vp8_declaring(16383, 16383), TOO_LARGE))
    c.append(("gif screen 65535x65535", gif_declaring(65535, 65535, 2, 2), TOO_LARGE))
    c.append(("gif frame 65535x65535 on a 2x2 screen", gif_declaring(2, 2, 65535, 65535), TOO_LARGE))
    c.append(("jpeg SOF 65535x65535", jpeg_lying(files["jpeg"], 65535, 65535), TOO_LARGE))
    c.append(("png 4000x4000 all zero (48 MB of pixels from ~50 KB): under the limit, decoded",
              png_raw(4000, 4000, 8, 2, b"\x00" * ((4000 * 3 + 1) * 4000)), OK))
    # Polyglots.
    c.append(("GIF header followed by PNG data", b"GIF89a" + files["png"], INVALID))
    c.append(("png with trailing HTML", files["png"] + b"<html><script>alert(1)</script></html>", OK))
    c.append(("jpeg with a trailing zip", files["jpeg"] + b"PK\x03\x04" + b"\x00" * 40 + b"PK\x05\x06" + b"\x00" * 18,
              OK))
    c.append(("HTML followed by a png", b"<html>" + files["png"], UNSUPPORTED))
    c.append(("pdf", b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n", UNSUPPORTED))
    # Empty, text, other formats.
    c.append(("zero-byte image (data: URI)", "data:image/png;base64,", INVALID))
    c.append(("text as an image", b"hello, I am not an image at all", UNSUPPORTED))
    c.append(("an SVG", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', UNSUPPORTED))
    c.append(("BMP", save(noisy(8, 8), "BMP"), UNSUPPORTED))
    c.append(("TIFF", save(noisy(8, 8), "TIFF"), UNSUPPORTED))
    # Unusual but valid: decoded.
    c.append(("CMYK jpeg", save(noisy(mode="CMYK"), "JPEG"), OK))
    c.append(("progressive jpeg", save(noisy(), "JPEG", progressive=True), OK))
    c.append(("grayscale jpeg", save(noisy(mode="L"), "JPEG"), OK))
    c.append(("16-bit RGB png", png_raw(8, 8, 16, 2, b"".join(b"\x00" + b"\x12\x34" * 24 for _ in range(8))), OK))
    c.append(("16-bit gray png", save(Image.new("I;16", (8, 8), 4000), "PNG"), OK))
    c.append(("palette png", save(noisy().convert("P"), "PNG"), OK))
    c.append(("palette png with transparency", save(noisy().convert("P"), "PNG", transparency=0), OK))
    c.append(("gray+alpha png", save(noisy(mode="LA"), "PNG"), OK))
    c.append(("interlaced (Adam7) png", png_interlaced(13, 11), OK))
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    c.append(("animated gif", save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0),
              OK))
    c.append(("animated webp", save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50), OK))
    c.append(("lossless webp", save(noisy(), "WEBP", lossless=True), OK))
    c.append(("1x1 png", png(1, 1), OK))
    c.append(("1x65535 png", png(1, 65535), OK))
    c.append(("65535x1 png", png(65535, 1), OK))
    c.append(("1x1 jpeg", save(noisy(1, 1), "JPEG"), OK))
    c.append(("1x1 gif", save(noisy(1, 1), "GIF"), OK))
    c.append(("1x1 webp", save(noisy(1, 1), "WEBP"), OK))
    return c


def body_corpus(img_b64: str) -> list:
    """(name, method-less request: (path, body bytes, headers), (status, error type)) for everything not an image."""
    j = {"Content-Type": "application/json"}
    good = ('{"image": "%s", "prompt": "x", "max_tokens": 2}' % img_b64).encode()
    c = []
    # Prompts.
    c.append(("empty prompt with an image", ("/analyze", ('{"image": "%s", "prompt": "", "max_tokens": 2}' %
                                                         img_b64).encode(), j), OK))
    c.append(("blank prompt with an image", ("/analyze", ('{"image": "%s", "prompt": " \\n\\t", "max_tokens": 2}' %
                                                         img_b64).encode(), j), OK))
    c.append(("no prompt field", ("/analyze", ('{"image": "%s", "max_tokens": 2}' % img_b64).encode(), j), OK))
    c.append(("prompt of 1 MB", ("/analyze", ('{"image": "%s", "prompt": "%s"}' % (img_b64, "p" * 1_000_000)).encode(),
                                 j), PAYLOAD))
    c.append(("prompt of 64 KiB + 1", ("/analyze", ('{"image": "%s", "prompt": "%s"}' % (img_b64, "p" * 65537))
                                       .encode(), j), PAYLOAD))
    c.append(("prompt of 1 MB (multipart)", ("/analyze",) + mp({"image": ("a.png", png(4, 4)),
                                                                "prompt": "p" * 1_000_000}), PAYLOAD))
    c.append(("invalid UTF-8 prompt (JSON)", ("/analyze", b'{"image": "%s", "prompt": "caf\xc3\x28"}' %
                                              img_b64.encode(), j), BAD))
    c.append(("overlong UTF-8 prompt (JSON)", ("/analyze", b'{"image": "%s", "prompt": "\xc0\xaf"}' %
                                               img_b64.encode(), j), BAD))
    c.append(("lone surrogate escape in the prompt", ("/analyze", b'{"image": "%s", "prompt": "\\ud800"}' %
                                                      img_b64.encode(), j), BAD))
    c.append(("invalid UTF-8 prompt (multipart)", ("/analyze",) + mp({"image": ("a.png", png(4, 4)),
                                                                      "prompt": b"\xff\xfe\xfd"}), BAD))
    c.append(("prompt that is not a string", ("/analyze", ('{"image": "%s", "prompt": 42}' % img_b64).encode(), j),
              BAD))
    c.append(("empty prompt, no image (chat)", ("/v1/chat/completions",
                                                b'{"model": "m", "messages": [{"role": "user", "content": ""}]}', j),
              BAD))
    # Base64 and data: URIs.
    c.append(("invalid base64", ("/analyze", b'{"image": "abc!!!def", "prompt": "x"}', j), BAD))
    c.append(("base64 of 4k+1 characters", ("/analyze", b'{"image": "iVBORw0KG", "prompt": "x"}', j), BAD))
    c.append(("url-safe base64 alphabet", ("/analyze", b'{"image": "iVBO-_w0", "prompt": "x"}', j), BAD))
    c.append(("unpadded base64 of a truncated png", ("/analyze", b'{"image": "iVBORw0KGgo", "prompt": "x"}', j),
              INVALID))
    c.append(("base64 with bytes after the padding", ("/analyze", b'{"image": "iVBO==Rw0K", "prompt": "x"}', j), BAD))
    c.append(("data: URI without ;base64", ("/analyze", b'{"image": "data:image/png,abcd", "prompt": "x"}', j), BAD))
    c.append(("data: URI without a comma", ("/analyze", b'{"image": "data:image/png;base64", "prompt": "x"}', j), BAD))
    c.append(("data: URI with invalid base64", ("/analyze", b'{"image": "data:image/png;base64,@@@@", "prompt": "x"}',
                                                j), BAD))
    c.append(("empty image field", ("/analyze", b'{"image": "", "prompt": "x"}', j), BAD))
    c.append(("zero-byte image (multipart)", ("/analyze",) + mp({"image": ("empty.png", b""), "prompt": "x"}),
              INVALID))
    c.append(("image field not a string", ("/analyze", b'{"image": 12, "prompt": "x"}', j), BAD))
    c.append(("remote image_url (chat)", ("/v1/chat/completions", json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest/meta-data"}}]}]}).encode(), j),
        BAD))
    c.append(("file: image_url (chat)", ("/v1/chat/completions", json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]}).encode(), j), BAD))
    # Content types.
    c.append(("text/plain body", ("/analyze", good, {"Content-Type": "text/plain"}), BAD))
    c.append(("no Content-Type", ("/analyze", good, {}), BAD))
    c.append(("image/png body", ("/analyze", png(4, 4), {"Content-Type": "image/png"}), BAD))
    c.append(("application/x-www-form-urlencoded", ("/analyze", b"image=abc&prompt=x",
                                                    {"Content-Type": "application/x-www-form-urlencoded"}), BAD))
    c.append(("multipart without a boundary", ("/analyze", b"--x\r\n\r\n--x--\r\n",
                                               {"Content-Type": "multipart/form-data"}), BAD))
    c.append(("JSON body labelled multipart", ("/analyze", good, {"Content-Type": "multipart/form-data; boundary=zz"}),
              BAD))
    c.append(("multipart body labelled JSON", ("/analyze", mp({"image": ("a.png", png(4, 4)), "prompt": "x"})[0], j),
              BAD))
    c.append(("chat with text/plain", ("/v1/chat/completions", b'{"model":"m","messages":[]}',
                                       {"Content-Type": "text/plain"}), BAD))
    # JSON shape.
    c.append(("JSON nested 100000 deep", ("/analyze", b'{"image": "%s", "x": ' % img_b64.encode() + b"[" * 100000 +
                                          b"]" * 100000 + b"}", j), BAD))
    c.append(("JSON objects nested 33 deep", ("/analyze", b'{"image": "%s", "x": ' % img_b64.encode() +
                                              b'{"a":' * 33 + b"1" + b"}" * 33 + b"}", j), BAD))
    c.append(("duplicated prompt field", ("/analyze", ('{"image": "%s", "prompt": "a", "prompt": "b"}' %
                                                      img_b64).encode(), j), BAD))
    c.append(("duplicated image field", ("/analyze", ('{"image": "%s", "image": "%s"}' % (img_b64, img_b64)).encode(),
                                         j), BAD))
    c.append(("duplicated field in a nested object", ("/v1/chat/completions", (
        '{"model": "m", "messages": [{"role": "user", "role": "system", "content": "hi"}]}').encode(), j), BAD))
    c.append(("duplicated multipart field", ("/analyze",) + mp({"image": ("a.png", png(4, 4)), "prompt": "a",
                                                                "prompt2": "b"}, rename=(b"prompt2", b"prompt")), BAD))
    # Repeated image parts are several images (issue 12), within --max-images.
    c.append(("two images (multipart)", ("/analyze",) + mp({"image": ("a.png", png(4, 4)), "image2": ("b.png",
                                                           png(4, 4))}, rename=(b"image2", b"image")), OK))
    c.append(("not JSON", ("/analyze", b"{image: nope}", j), BAD))
    c.append(("JSON array body", ("/analyze", b"[1, 2, 3]", j), BAD))
    c.append(("JSON with trailing garbage", ("/analyze", good + b"}}", j), BAD))
    c.append(("empty body", ("/analyze", b"", j), BAD))
    c.append(("NaN temperature", ("/analyze", ('{"image": "%s", "temperature": NaN}' % img_b64).encode(), j), BAD))
    c.append(("max_tokens 10^30", ("/analyze", ('{"image": "%s", "max_tokens": 1e30}' % img_b64).encode(), j), BAD))
    c.append(("negative max_tokens", ("/analyze", ('{"image": "%s", "max_tokens": -1}' % img_b64).encode(), j), BAD))
    c.append(("stream as a string", ("/analyze", ('{"image": "%s", "stream": "yes"}' % img_b64).encode(), j), BAD))
    return c


def mp(fields: dict, rename: tuple | None = None) -> tuple:
    body, ctype = multipart(fields)
    if rename:
        body = body.replace(b'name="%s"' % rename[0], b'name="%s"' % rename[1])
    return body, {"Content-Type": ctype}


# --- the test -------------------------------------------------------------------

class BadInput(unittest.TestCase):
    server: Server

    @classmethod
    def setUpClass(cls):
        cls.server = Server(VIGIL, ["--engine", "chaos", "--workers", "2"]).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        crashes = cls.server.crash_lines()
        assert not crashes, "crash lines in the server log: %r" % crashes

    def restarts(self) -> float:
        status, _, body = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        return sum(float(l.split()[-1]) for l in body.decode().splitlines()
                   if l.startswith("vigil_worker_restarts_total{"))

    def pids(self) -> list:
        status, _, body = self.server.request("GET", "/v1/workers")
        return sorted(w["pid"] for w in json.loads(body)["workers"])

    def normal_request(self):
        obj = {"image": base64.b64encode(png(8, 8)).decode(), "prompt": "a normal request", "max_tokens": 3}
        status, _, out = self.server.json("POST", "/analyze", obj)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["attempts"], 1)

    def check(self, name: str, status: int, data: bytes, want):
        got_type = None
        if status != 200:
            try:
                err = json.loads(data)["error"]
                got_type = err["type"]
                self.assertEqual(err["code"], status, name)
                self.assertTrue(err["message"], name)
            except (ValueError, KeyError):
                self.fail("%s: %d without a typed error body: %r" % (name, status, data[:200]))
        if PRINT_TABLE:
            msg = json.loads(data)["error"]["message"] if status != 200 else ""
            print("| %s | %d %s | %s" % (name, status, got_type or "", msg[:100]), file=sys.stderr)
        if want == "any_image":  # the decoder decides; either way a typed answer, never a crash
            self.assertIn((status, got_type), (OK, INVALID), name)
        else:
            self.assertEqual((status, got_type), want, "%s: %r" % (name, data[:300]))

    def test_corpus(self):
        self.normal_request()
        restarts, pids = self.restarts(), self.pids()
        img_b64 = base64.b64encode(png(4, 4)).decode()
        sent = 0
        for name, image, want in image_corpus():
            with self.subTest(name):
                field = image if isinstance(image, str) else base64.b64encode(image).decode()
                status, _, data = self.server.request(
                    "POST", "/analyze", json.dumps({"image": field, "prompt": "what", "max_tokens": 2}).encode(),
                    {"Content-Type": "application/json"})
                self.check(name, status, data, want)
            sent += 1
            if sent % INTERLEAVE == 0:
                self.normal_request()
        for name, (path, body, headers), want in body_corpus(img_b64):
            with self.subTest(name):
                status, _, data = self.server.request("POST", path, body, headers)
                self.check(name, status, data, want)
            sent += 1
            if sent % INTERLEAVE == 0:
                self.normal_request()
        self.normal_request()
        self.assertEqual(self.restarts(), restarts, "a bad input killed a worker")
        self.assertEqual(self.pids(), pids, "a worker was replaced")
        self.assertEqual(self.server.request("GET", "/health")[0], 200)

    def test_same_corpus_through_multipart_and_chat(self):
        """The image verdicts do not depend on the route or the encoding: a sample through multipart and chat."""
        wanted = {"truncated png at 60%", "png declaring 100000x100000 (bomb)", "text as an image",
                  "CMYK jpeg", "animated webp", "1x65535 png", "jpeg whose SOF says 4000x3000 over 48x32 data",
                  "GIF header followed by PNG data"}
        restarts = self.restarts()
        for name, image, want in image_corpus():
            if name not in wanted:
                continue
            with self.subTest(name + " (multipart)"):
                body, h = mp({"image": ("x.bin", image), "prompt": "what", "max_tokens": "2"})
                status, _, data = self.server.request("POST", "/analyze", body, h)
                self.check(name + " (multipart)", status, data, want)
            with self.subTest(name + " (chat)"):
                url = "data:image/png;base64," + base64.b64encode(image).decode()
                obj = {"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "what"}, {"type": "image_url", "image_url": {"url": url}}]}]}
                status, _, data = self.server.request("POST", "/v1/chat/completions", json.dumps(obj).encode(),
                                                      {"Content-Type": "application/json"})
                self.check(name + " (chat)", status, data, want)
        self.normal_request()
        self.assertEqual(self.restarts(), restarts)

    def test_stream_of_a_bad_image_gets_its_real_status(self):
        """Refused before any event: the real status, not a 200 stream."""
        obj = {"image": base64.b64encode(b"GIF89a" + png(4, 4)).decode(), "prompt": "x", "stream": True}
        status, _, data = self.server.json("POST", "/analyze", obj)
        self.assertEqual((status, data["error"]["type"]), INVALID)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigil", required=True)
    parser.add_argument("--table", action="store_true")
    args, rest = parser.parse_known_args()
    VIGIL = args.vigil
    PRINT_TABLE = args.table
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
