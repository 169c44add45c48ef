#!/usr/bin/env python3
"""Stopping vigil the way people and process managers do: it must drain.

Runs on the host, outside the build environment, and starts vigil exactly as
README.md says (`./vigil serve ...`, `./vigil demo`): whatever process sits
between the user and the program (scripts/env.sh and bwrap when the host lacks
llama.cpp) is part of what is tested. Each case has a long streamed and a long
non-streamed request in flight when the signal comes, then checks:

- both requests complete (200, the whole answer; the stream ends with [DONE]);
- while draining, /ready answers 503 and a new request 503 with Retry-After;
- the process the user holds exits 0;
- no process of the tree is left (launcher, bwrap, vigil, workers).

Cases: SIGTERM to the process the user holds; SIGINT to it; SIGTERM to every
process of the tree at once (systemd's KillMode=control-group); a second
SIGTERM later, which stops at once with typed errors; `./vigil demo`
stopped by SIGTERM.

    python3 tests/e2e/stop_test.py [BUILD_DIR]
"""
from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(REPO, "build")
MODELS = os.path.join(BUILD, "models")
# Long enough to be in flight for a second or more whatever the machine.
LONG_TOKENS = 12000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def tree(pid: int) -> list[int]:
    """pid and every descendant, parents first."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(children(p))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def request(port: int, method: str, path: str, body: dict | None = None, timeout: float = 60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def chat(max_tokens: int, stream: bool) -> dict:
    extra = {"stream_options": {"include_usage": True}} if stream else {}
    return {**extra, "model": "m", "stream": stream, "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0,
            "messages": [{"role": "user", "content": "Describe the image."}]}


class LongRequest(threading.Thread):
    """One request in flight on its own thread; records what came back."""

    def __init__(self, port: int, stream: bool):
        super().__init__(daemon=True)
        self.port, self.stream = port, stream
        self.first_byte = threading.Event()
        self.status = None
        self.body = b""
        self.error = None

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request("POST", "/v1/chat/completions", body=json.dumps(chat(LONG_TOKENS, self.stream)).encode(),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            self.status = resp.status
            while True:
                chunk = resp.read1(65536) if self.stream else resp.read()
                if not chunk:
                    break
                self.body += chunk
                if b"content" in self.body:
                    self.first_byte.set()
                if not self.stream:
                    break
        except Exception as e:  # the symptom this test exists for: RemoteDisconnected
            self.error = repr(e)
        finally:
            conn.close()
            self.first_byte.set()

    def completion_tokens(self) -> int:
        if self.stream:
            for line in self.body.decode(errors="replace").splitlines():
                if line.startswith("data: {") and '"usage"' in line:
                    usage = json.loads(line[6:]).get("usage")
                    if usage:
                        return usage.get("completion_tokens", 0)
            return 0
        return json.loads(self.body).get("usage", {}).get("completion_tokens", 0)


class Launched:
    """`./vigil ARGS` started from the repository, as README.md says."""

    def __init__(self, args: list[str]):
        self.log = open(os.path.join(BUILD, "stop-test-%d.log" % os.getpid()), "w+")
        self.proc = subprocess.Popen(["./vigil"] + args, cwd=REPO, stdout=subprocess.PIPE, stderr=self.log,
                                     start_new_session=True)
        self.seen: set[int] = set()

    def note_tree(self) -> list[int]:
        pids = tree(self.proc.pid)
        self.seen.update(pids)
        return pids

    def read_line_with(self, text: str, bound: float) -> str:
        deadline, line = time.monotonic() + bound, b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if not r:
                continue
            ch = os.read(self.proc.stdout.fileno(), 1)
            if not ch:
                break
            if ch == b"\n":
                if text in line.decode(errors="replace"):
                    return line.decode()
                line = b""
            else:
                line += ch
        raise AssertionError(f"no line with {text!r} within {bound}s; log:\n{self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def kill_everything(self) -> None:
        for pid in self.note_tree():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class StopTest(unittest.TestCase):
    def serve(self) -> tuple[Launched, int]:
        port = free_port()
        v = Launched(["serve", "--model", os.path.join(MODELS, "vigil-tiny-text.gguf"), "--mmproj",
                      os.path.join(MODELS, "vigil-tiny-mmproj.gguf"), "--port", str(port), "--workers", "2",
                      "--ctx", str(LONG_TOKENS + 512), "--max-tokens-limit", str(LONG_TOKENS),
                      # room for the long requests on a loaded machine (the default is 30 s)
                      "--drain-grace", "120"])
        self.addCleanup(v.kill_everything)
        v.read_line_with("listening on", 300)  # the first ./vigil may build the sid root
        deadline = time.monotonic() + 60
        while request(port, "GET", "/ready")[0] != 200:
            self.assertLess(time.monotonic(), deadline, "not ready: " + v.log_text())
            time.sleep(0.05)  # polling /ready, bounded
        return v, port

    def start_long_requests(self, port: int) -> tuple[LongRequest, LongRequest]:
        plain, streamed = LongRequest(port, False), LongRequest(port, True)
        plain.start()
        streamed.start()
        self.assertTrue(streamed.first_byte.wait(60), "the stream never started")
        self.assertIsNone(streamed.error)
        return plain, streamed

    def assert_draining(self, port: int) -> None:
        # The launcher passes the signal on within milliseconds; /ready turns
        # 503 as soon as vigil has it.
        deadline = time.monotonic() + 2
        while True:
            status, _, body = request(port, "GET", "/ready")
            if status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual(status, 503, body)
        status, headers, body = request(port, "POST", "/v1/chat/completions", chat(4, False))
        self.assertEqual(status, 503, body)
        self.assertIn("Retry-After", headers)
        self.assertEqual(json.loads(body)["error"]["type"], "not_ready")

    def assert_completed(self, r: LongRequest) -> None:
        r.join(120)
        self.assertIsNone(r.error, "the request was dropped")
        self.assertEqual(r.status, 200, r.body[-500:])
        if r.stream:
            self.assertTrue(r.body.rstrip().endswith(b"data: [DONE]"), r.body[-300:])
        self.assertEqual(r.completion_tokens(), LONG_TOKENS)

    def assert_gone(self, v: Launched, rc: int = 0) -> None:
        self.assertEqual(v.proc.wait(60), rc, v.log_text())
        deadline = time.monotonic() + 5
        while any(alive(p) for p in v.seen) and time.monotonic() < deadline:
            time.sleep(0.05)  # reaping by init may lag a moment
        self.assertEqual([p for p in v.seen if alive(p)], [], "processes left behind")

    def drain_case(self, send) -> None:
        v, port = self.serve()
        plain, streamed = self.start_long_requests(port)
        pids = v.note_tree()
        self.assertGreaterEqual(len(pids), 3, "expected the launcher, vigil and its workers")
        send(v, pids)
        self.assert_draining(port)
        self.assert_completed(plain)
        self.assert_completed(streamed)
        self.assert_gone(v)

    def test_sigterm_to_the_process_the_user_holds(self) -> None:
        self.drain_case(lambda v, pids: os.kill(v.proc.pid, signal.SIGTERM))

    def test_sigint_to_the_process_the_user_holds(self) -> None:
        self.drain_case(lambda v, pids: os.kill(v.proc.pid, signal.SIGINT))

    def test_sigterm_to_every_process_at_once(self) -> None:
        def everyone(v, pids):
            for pid in pids:
                os.kill(pid, signal.SIGTERM)
        self.drain_case(everyone)

    def test_second_signal_stops_at_once_with_typed_errors(self) -> None:
        v, port = self.serve()
        plain, streamed = self.start_long_requests(port)
        v.note_tree()
        os.kill(v.proc.pid, signal.SIGTERM)
        self.assert_draining(port)
        time.sleep(1.2)  # a repeat within a second is the same stop; this one is a second stop
        os.kill(v.proc.pid, signal.SIGTERM)
        plain.join(30)
        streamed.join(30)
        self.assertIsNone(plain.error, "dropped instead of a typed error")
        self.assertIsNone(streamed.error, "dropped instead of a typed error")
        if plain.status == 200:  # it may have finished before the second signal
            self.assertEqual(plain.completion_tokens(), LONG_TOKENS)
        else:
            self.assertEqual(plain.status, 503)
            self.assertEqual(json.loads(plain.body)["error"]["type"], "not_ready")
        self.assertEqual(streamed.status, 200)
        text = streamed.body.decode(errors="replace")
        self.assertTrue("not_ready" in text or streamed.completion_tokens() == LONG_TOKENS, text[-300:])
        self.assert_gone(v)

    def test_demo_stops_on_sigterm(self) -> None:
        v = Launched(["demo"])
        self.addCleanup(v.kill_everything)
        v.read_line_with("server ready", 300)
        v.read_line_with("== ", 60)  # a question is being answered
        v.note_tree()
        os.kill(v.proc.pid, signal.SIGTERM)
        out = v.proc.stdout.read().decode(errors="replace")
        self.assertIn("stopped by a signal", out)
        self.assert_gone(v)


if __name__ == "__main__":
    unittest.main(verbosity=2)
