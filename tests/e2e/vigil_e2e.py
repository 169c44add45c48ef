"""Harness for vigil's end-to-end tests: starts the real `vigil serve`,
waits for the events it needs (never sleeps blindly), and checks the log for
crash lines when the server stops.

    with Server(vigil_binary, ["--engine", "chaos"]) as s:
        status, headers, body = s.request("GET", "/health")
"""
from __future__ import annotations

import atexit
import http.client
import io
import json
import os
import pathlib
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

def world_readable_copy(source: pathlib.Path) -> pathlib.Path:
    """A copy of `source` (a directory) under a fresh temporary directory
    that every user may enter and read, removed at exit. Run as root,
    vigil serve starts --worker-command workers as nobody, who may not
    enter the checkout (a CI clone under a 0700 directory)."""
    top = pathlib.Path(tempfile.mkdtemp(prefix="vigil-e2e-ro-"))
    atexit.register(shutil.rmtree, top, True)
    copy = top / source.name
    shutil.copytree(source, copy)
    for path in [top, *copy.rglob("*"), copy]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return copy


def use_python_package() -> None:
    """Puts a world-readable copy of python/ (the vigil_worker package) first
    in PYTHONPATH, which the workers inherit from vigil serve, so the package
    needs no installing."""
    python_dir = str(world_readable_copy(pathlib.Path(__file__).resolve().parents[2] / "python"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [python_dir, os.environ.get("PYTHONPATH")]))


def python_worker_args() -> list[str]:
    """Serve flags that run the Python port of the chaos engine
    (python/vigil_worker/examples/chaos_engine.py) as the workers, through
    --worker-command, instead of vigil-worker --engine chaos."""
    use_python_package()
    return ["--worker-command", shlex.join([sys.executable, "-m", "vigil_worker.examples.chaos_engine"])]


# Lines that must never appear in the server's log.
CRASH_MARKERS = ("AddressSanitizer", "runtime error:", "terminate called", "Segmentation fault",
                 "LeakSanitizer", "core dumped")


class Server:
    def __init__(self, binary: str, args: list[str], ready: bool = True):
        self.binary = binary
        self.args = args
        self.want_ready = ready
        self.proc = None
        self.port = 0
        self.log = tempfile.NamedTemporaryFile(prefix="vigil-e2e-", suffix=".log", delete=False)

    def __enter__(self) -> "Server":
        cmd = [self.binary, "serve", "--host", "127.0.0.1", "--port", "0"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log)
        self.port = self._read_port(10.0)
        if self.want_ready:
            self.wait_ready(10.0)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _read_port(self, bound: float) -> int:
        deadline = time.monotonic() + bound
        line = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], max(deadline - time.monotonic(), 0.01))
            if not r:
                continue
            ch = os.read(self.proc.stdout.fileno(), 1)
            if not ch:
                raise RuntimeError("vigil serve exited before listening; log: " + self.log_text())
            if ch == b"\n":
                text = line.decode()
                if text.startswith("vigil: listening on "):
                    return int(text.rsplit(":", 1)[1])
                line = b""
            else:
                line += ch
        raise RuntimeError("no 'listening on' line within %.0fs" % bound)

    def wait_ready(self, bound: float) -> None:
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            status, _, _ = self.request("GET", "/ready")
            if status == 200:
                return
            time.sleep(0.02)  # polling /ready, bounded by the deadline
        raise RuntimeError("not ready within %.0fs" % bound)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.log.flush()

    def log_text(self) -> str:
        self.log.flush()
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def crash_lines(self) -> list[str]:
        return [l for l in self.log_text().splitlines() if any(m in l for m in CRASH_MARKERS)
                and "worker_" not in l and "stderr_tail" not in l]

    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def json(self, method: str, path: str, obj, headers: dict | None = None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        status, hdrs, data = self.request(method, path, json.dumps(obj).encode(), h)
        return status, hdrs, json.loads(data) if data else None


def multipart(fields: dict, boundary: str = "vigilboundary1234") -> tuple[bytes, str]:
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(b"--" + boundary.encode() + b"\r\n")
        if isinstance(value, tuple):  # (filename, bytes)
            out.write(b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n' % (name.encode(), value[0].encode()))
            out.write(b"Content-Type: application/octet-stream\r\n\r\n" + value[1] + b"\r\n")
        else:
            data = value if isinstance(value, bytes) else str(value).encode()
            out.write(b'Content-Disposition: form-data; name="%s"\r\n\r\n' % name.encode() + data + b"\r\n")
    out.write(b"--" + boundary.encode() + b"--\r\n")
    return out.getvalue(), "multipart/form-data; boundary=" + boundary


def sse_events(data: bytes) -> list:
    events = []
    for block in data.decode().split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                payload = line[6:]
                events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


# --- images (made here, so the tests own their corpus) ----------------------

def png(w: int, h: int, color=(200, 30, 30), textured: bool = False) -> bytes:
    """A w x h RGB PNG of one colour, or (textured) of fine, fixed stripes
    and gradients, whose detail a resize would change."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    if textured:
        raw = b"".join(b"\x00" + bytes(v for x in range(w) for v in
                                        ((x * 7 + y * 3) & 255, (x ^ y) & 255, ((x // 3 + y // 2) % 2) * 255))
                       for y in range(h))
    else:
        raw = b"".join(b"\x00" + bytes(color) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_declaring(w: int, h: int) -> bytes:
    """A small PNG whose IHDR (valid CRC) declares w x h: a decompression bomb."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def pil_image(fmt: str, w: int = 32, h: int = 24, **kw) -> bytes:
    from PIL import Image
    im = Image.new("RGB", (w, h), (10, 120, 200))
    out = io.BytesIO()
    im.save(out, format=fmt, **kw)
    return out.getvalue()
