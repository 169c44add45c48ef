"""Fault paths of the real binaries that only an outside view triggers
(issue 13, item 3):

- a slow reader that never drains its streamed response: after
  --write-timeout the connection closes, its job is cancelled and the
  worker is free again, and the server keeps serving;
- the supervisor killed with SIGKILL (no drain, no cleanup code runs): its
  workers die with it (PR_SET_PDEATHSIG), none is left behind;
- a second SIGTERM during drain is tests/e2e/stop_test.py's
  test_second_signal_stops_at_once_with_typed_errors.

    python3 fault_paths_test.py --vigil build/bin/vigil
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import unittest

import base64

from vigil_e2e import Server, png

IMAGE = base64.b64encode(png(8, 8)).decode()

VIGIL = "vigil"


def wait_for(what: str, bound: float, probe):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.02)  # polling the server's own view, bounded
    raise AssertionError("%s: not within %.1f s" % (what, bound))


def workers(s: Server) -> list:
    status, _, body = s.request("GET", "/v1/workers")
    assert status == 200, status
    return json.loads(body)["workers"]


def alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class FaultPaths(unittest.TestCase):
    def test_slow_reader_is_cut_at_the_write_timeout(self):
        args = ["--engine", "chaos", "--workers", "1", "--jobs", "1", "--write-timeout", "1",
                "--max-tokens-limit", "1000000", "--request-timeout", "120"]
        with Server(VIGIL, args) as s:
            body = json.dumps({"image": IMAGE, "prompt": "a long answer", "max_tokens": 1000000, "stream": True}).encode()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window, never read
            sock.connect(("127.0.0.1", s.port))
            sock.sendall(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            t0 = time.monotonic()
            wait_for("the job running", 5.0, lambda: workers(s)[0]["state"] == "busy")
            # The server's send buffer fills, a write stalls past 1 s: the
            # connection closes and the job is cancelled, freeing the worker.
            wait_for("the worker free again", 60.0, lambda: workers(s)[0]["state"] == "idle")
            cut_s = time.monotonic() - t0
            sock.close()
            print("[slow reader] cut and the worker freed after %.1f s" % cut_s)
            status, _, _ = s.request("GET", "/ready")
            self.assertEqual(status, 200)
            status, _, data = s.json("POST", "/analyze", {"image": IMAGE, "prompt": "after", "max_tokens": 4})
            self.assertEqual(status, 200, data)
            self.assertEqual(workers(s)[0]["recent_crashes"], [])  # cancelled, not crashed
            self.assertEqual(s.crash_lines(), [])

    def test_supervisor_sigkilled_takes_its_workers_with_it(self):
        with Server(VIGIL, ["--engine", "chaos", "--workers", "2", "--spare-workers", "1"]) as s:
            pids = wait_for("3 loaded workers", 10.0, lambda: [w["pid"] for w in workers(s)
                                                              if w.get("state") == "idle"] if len(
                [w for w in workers(s) if w.get("state") == "idle"]) == 3 else None)
            self.assertTrue(all(alive(p) for p in pids))
            s.proc.send_signal(signal.SIGKILL)
            s.proc.wait(5)
            wait_for("every worker gone", 5.0, lambda: not any(alive(p) for p in pids))
            print("[supervisor SIGKILL] workers %s gone" % pids)


if __name__ == "__main__":
    if "--vigil" in sys.argv:
        i = sys.argv.index("--vigil")
        VIGIL = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    unittest.main(verbosity=2)
