"""The worker's end of the protocol socket, its liveness state and heartbeat.

`Channel.send` may be called from any thread (one lock serialises frames, so
frames of different threads never interleave). After `close()` (the
close_protocol fault) sends are dropped silently.

`Liveness` is what heartbeats carry: the phase the worker computes now, the
job it computes it for, and a progress counter that advances only on real
progress. The supervisor kills a busy worker whose counter stays frozen past
its phase's limit, and a worker that sends no heartbeat at all.
"""
from __future__ import annotations

import socket
import threading
import time

from vigil_worker import protocol


class Channel:
    def __init__(self, fd: int):
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(True)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, frame: protocol.Frame) -> None:
        self.send_raw(protocol.encode_frame(frame))

    def send_raw(self, data: bytes) -> None:
        """Writes bytes as they are (the garbage fault uses it directly). A
        dead supervisor (EPIPE) is the reader's to notice: it sees EOF."""
        with self._lock:
            if self._closed:
                return
            try:
                self._sock.sendall(data)
            except OSError:
                pass

    def recv(self, size: int = 1 << 16) -> bytes:
        """Blocks for bytes; b"" at EOF or once closed."""
        try:
            return self._sock.recv(size)
        except OSError:
            return b""

    def close(self) -> None:
        with self._lock:
            self._closed = True
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()


class Liveness:
    """Phase, job and progress counter; written by the main thread (and engine
    threads through Job.advance), read by the heartbeat thread."""

    def __init__(self) -> None:
        self.phase: str = "load"
        self.job_id: int = 0
        self._progress = 0
        self._lock = threading.Lock()

    def advance(self) -> None:
        with self._lock:
            self._progress += 1

    @property
    def progress(self) -> int:
        return self._progress

    def set(self, phase: str, job_id: int) -> None:
        self.phase, self.job_id = phase, job_id


class Heartbeat:
    """Sends a heartbeat every `period` seconds on a fixed schedule (a slow write
    does not stretch the interval the supervisor's deadlines assume)."""

    def __init__(self, channel: Channel, liveness: Liveness, period: float = 0.1):
        self._channel, self._liveness, self._period = channel, liveness, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vigil-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            live = self._liveness
            self._channel.send(protocol.heartbeat(live.phase, live.job_id, live.progress))
            next_at = max(next_at + self._period, time.monotonic())
            self._stop.wait(max(0.0, next_at - time.monotonic()))
