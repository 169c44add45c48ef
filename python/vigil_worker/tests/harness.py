"""A fake supervisor for the package's tests: starts a worker program on one
end of a socketpair (passed with --fd, as vigil serve does), then reads
and writes frames with a bound on every wait."""
from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

from vigil_worker import protocol

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding vigil_worker/


class FakeSupervisor:
    def __init__(self, module: str, *args: str, address_space_limit: int = 0):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = ours
        env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
        fd = theirs.fileno()
        def limit() -> None:  # RLIMIT_AS, as vigil serve's --worker-memory-limit-mb sets it
            if address_space_limit:
                resource.setrlimit(resource.RLIMIT_AS, (address_space_limit, address_space_limit))
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args, "--fd", str(fd)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(fd,),
                                     preexec_fn=limit)
        theirs.close()
        self.decoder = protocol.FrameDecoder()

    def send(self, frame: protocol.Frame) -> None:
        self.sock.sendall(protocol.encode_frame(frame))

    def read(self, bound: float = 10.0, skip_heartbeats: bool = True) -> protocol.Frame | None:
        """The next frame; None at EOF. Raises TimeoutError past the bound."""
        deadline = time.monotonic() + bound
        while True:
            frame = self.decoder.next()
            if frame is not None and not (skip_heartbeats and frame.type == protocol.MessageType.HEARTBEAT):
                return frame
            if frame is not None:
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame within %.1fs" % bound)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                raise TimeoutError("no frame within %.1fs" % bound) from None
            if not data:
                return None
            self.decoder.feed(data)

    def read_until(self, kind: protocol.MessageType, bound: float = 10.0) -> list[protocol.Frame]:
        """Frames up to and including the first of `kind`."""
        out = []
        while True:
            frame = self.read(bound)
            if frame is None:
                raise AssertionError("EOF before %s; got %r; output: %s" % (kind.name, out, self.output()))
            out.append(frame)
            if frame.type == kind:
                return out

    def handshake(self) -> protocol.Frame:
        hello = self.read()
        assert hello is not None and hello.type == protocol.MessageType.HELLO, (hello, self.output())
        return self.read_until(protocol.MessageType.LOADED)[-1]

    def wait(self, bound: float = 10.0) -> int:
        return self.proc.wait(bound)

    def output(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""

    def close(self) -> None:
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()


def job(job_id: int, prompt: str = "hello there", max_tokens: int = 5, **extra) -> protocol.Frame:
    header = {"job": job_id, "prompt": prompt, "params": {"max_tokens": max_tokens, "temperature": 0,
                                                          **extra.pop("params", {})}}
    payload = extra.pop("payload", b"")
    header.update(extra)
    return protocol.Frame(protocol.MessageType.JOB, header, payload)
