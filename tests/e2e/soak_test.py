#!/usr/bin/env python3
"""A bounded soak over HTTP: 2,000 requests from 8 concurrent clients against
`vigil serve --engine chaos`, 10 % of them injecting a random fault (every
kind, before the first token or mid-stream, streamed or not).

    python3 tests/e2e/soak_test.py --vigil build/bin/vigil [--requests 2000]

Holds the server to: every request gets exactly one complete answer; every
request that injected no fault succeeds, on its first attempt or, when
batch-mates' faults took its worker down, on a retry (batched after one such
crash, alone after two: at most 3 attempts); every faulty
one succeeds on a retry (its fault hits the first attempt only); the
supervisor's resident memory and open descriptors do not grow; the server
log has no crash lines of its own.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import sys
import threading
import time

from vigil_e2e import Server, png, sse_events

KINDS = ["segfault", "abort", "hang_busy", "hang_syscall", "exit", "oom", "garbage", "close_protocol"]
CLIENTS = 8
FAULT_RATE = 0.10
IMAGE = base64.b64encode(png(16, 16)).decode()


def rss_kb(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def fd_count(pid: int) -> int:
    return len(os.listdir("/proc/%d/fd" % pid))


class Client(threading.Thread):
    def __init__(self, port: int, jobs: list):
        super().__init__(daemon=True)
        self.port, self.jobs, self.results = port, jobs, []

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        for index, fault, stream in self.jobs:
            # A unique prompt per request: fingerprints differ, so the
            # first-attempt faults never add up to a quarantine.
            body = {"image": IMAGE, "prompt": "soak %d" % index, "max_tokens": 8,
                    "temperature": 0, "stream": stream}
            headers = {"Content-Type": "application/json"}
            if fault:
                headers["X-Vigil-Fault"] = fault
            try:
                conn.request("POST", "/analyze", json.dumps(body), headers)
                resp = conn.getresponse()
                data = resp.read()
                self.results.append((index, fault, stream, resp.status, data))
            except Exception as e:  # noqa: BLE001 - any transport failure is a finding
                self.results.append((index, fault, stream, -1, repr(e).encode()))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.close()


def outcome(status: int, stream: bool, data: bytes) -> tuple[bool, int, str]:
    """(succeeded, attempts, text) of one answer; exactly one final event if streamed."""
    if status != 200:
        return False, 0, data[:200].decode(errors="replace")
    if not stream:
        body = json.loads(data)
        return True, body["attempts"], body["text"]
    events = sse_events(data)
    finals = [e for e in events if "done" in e or "error" in e]
    if len(finals) != 1 or "done" not in finals[0]:
        return False, 0, "final events: %r" % finals
    return True, finals[0]["attempts"], "".join(e.get("text", "") for e in events)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigil", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    # A sanitized server keeps freed memory in ASan's quarantine: RSS grows by
    # design there, and LeakSanitizer checks leaks at exit instead.
    parser.add_argument("--no-memory-check", action="store_true")
    args = parser.parse_args()
    rng = random.Random(2026)
    jobs = []
    for i in range(args.requests):
        fault = None
        if rng.random() < FAULT_RATE:
            at = rng.choice(["at=before_first_token", "at=after_tokens;after_tokens=3"])
            fault = "kind=%s;%s" % (rng.choice(KINDS), at)
        jobs.append((i, fault, rng.random() < 0.5))
    serve = ["--engine", "chaos", "--allow-fault-injection", "--workers", "4", "--hang-limit", "1.0",
             "--worker-memory-limit-mb", "384", "--max-queue", "256", "--log-level", "warn"]
    with Server(args.vigil, serve) as server:
        pid = server.proc.pid
        # Warm up (connections, allocator pools), then take the baseline.
        warm = Client(server.port, [(10**6 + i, None, i % 2 == 0) for i in range(50)])
        warm.start()
        warm.join()
        rss0, fds0 = rss_kb(pid), fd_count(pid)
        t0 = time.monotonic()
        clients = [Client(server.port, jobs[k::CLIENTS]) for k in range(CLIENTS)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(300)
        elapsed = time.monotonic() - t0
        rss1, fds1 = rss_kb(pid), fd_count(pid)
        results = [r for c in clients for r in c.results]
        problems = []
        if len(results) != len(jobs) or len({r[0] for r in results}) != len(jobs):
            problems.append("answers: %d for %d requests" % (len(results), len(jobs)))
        faults = retried = innocent_retried = 0
        for index, fault, stream, status, data in results:
            ok, attempts, detail = outcome(status, stream, data)
            faults += fault is not None
            if not ok:
                problems.append("request %d (fault %s, stream %s): HTTP %d %s" % (index, fault, stream, status, detail))
            elif fault is None and attempts > 3:
                # Workers run several jobs at once: a faulting batch-mate
                # takes an innocent job down with it; the first retry is
                # batched again (it may meet another faulting job), the next
                # runs alone (a suspect), so no innocent needs a fourth.
                problems.append("request %d without fault took %d attempts" % (index, attempts))
            elif fault is None:
                innocent_retried += attempts >= 2
            elif fault is not None:
                retried += attempts >= 2
        _, _, metrics = server.request("GET", "/metrics")
        restarts = sum(float(l.split()[-1]) for l in metrics.decode().splitlines()
                       if l.startswith("vigil_worker_restarts_total"))
        print("soak: %d requests (%d with a fault, %d of those retried to success; %d without a fault "
              "retried after a batch-mate's fault) in %.1f s; worker restarts %d; supervisor RSS %d -> %d KiB, "
              "fds %d -> %d" % (len(results), faults, retried, innocent_retried, elapsed, restarts, rss0, rss1,
                               fds0, fds1))
        if fds1 > fds0 + 4:
            problems.append("open descriptors grew: %d -> %d" % (fds0, fds1))
        if rss1 > rss0 + 16 * 1024 and not args.no_memory_check:
            problems.append("resident memory grew by %d KiB" % (rss1 - rss0))
        problems += ["crash line in the log: " + l for l in server.crash_lines()]
        status, _, _ = server.request("GET", "/health")
        if status != 200:
            problems.append("/health answered %d after the soak" % status)
    for p in problems[:20]:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
