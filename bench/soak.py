#!/usr/bin/env python3
"""The long soak (issue 13, item 5), from outside; a benchmark, not a CI test.

`vigil serve --engine chaos --workers 2` answers --requests requests from 8
clients, a third each: JSON `/analyze`, SSE `/analyze` and an OpenAI stream
(`/v1/chat/completions`, `stream: true`), while a random live worker gets
SIGKILL, SIGSEGV, SIGABRT or SIGSTOP every --period s. Once a second the
supervisor's resident memory (VmRSS) and open descriptors are read from
/proc. Every request must get exactly one complete answer (a 200 body, one
final SSE event, or an OpenAI stream ending in one finish_reason and
[DONE]); anything else is counted by its outcome. Writes the result
(naming this script and its command) to --out.

    nice -n 10 scripts/env.sh python3 bench/soak.py --vigil build/bin/vigil \\
        [--requests 100000] [--period 0.5] [--out bench/results/soak-100k.json]
"""
from __future__ import annotations

import argparse
import base64
import collections
import http.client
import json
import os
import random
import signal
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
from vigil_e2e import Server, png, sse_events  # noqa: E402

IMAGE = base64.b64encode(png(8, 8)).decode()
KINDS = ("json", "sse", "openai_stream")
SIGNALS = (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGSTOP)


def proc_sample(pid: int) -> tuple[int, int]:
    """(VmRSS in KiB, open descriptors) of a live process."""
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def request_for(kind: str, n: int) -> tuple[str, dict]:
    prompt = "soak %d" % n  # unique: fingerprints never add up to a quarantine
    if kind == "openai_stream":
        return "/v1/chat/completions", {
            "model": "m", "stream": True, "max_tokens": 16, "messages": [{"role": "user", "content": [
                {"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + IMAGE}}]}]}
    return "/analyze", {"image": IMAGE, "prompt": prompt, "max_tokens": 16, "stream": kind == "sse"}


def judge(kind: str, status: int, data: bytes) -> str:
    """'200' for one complete answer, else a short outcome key."""
    if status != 200:
        try:
            return "%d %s" % (status, json.loads(data)["error"]["type"])
        except Exception:  # noqa: BLE001 - the status alone then
            return str(status)
    if kind == "json":
        body = json.loads(data)
        return "200" if "text" in body and body.get("attempts", 0) >= 1 else "200 incomplete body"
    events = sse_events(data)
    errors = [e for e in events if isinstance(e, dict) and "error" in e]
    if errors:
        return "200 then error %s" % errors[0]["error"].get("type")
    if kind == "sse":
        return "200" if sum("done" in e for e in events if isinstance(e, dict)) == 1 else "200 no single done"
    finals = [e for e in events if isinstance(e, dict) and e.get("choices") and e["choices"][0].get("finish_reason")]
    return "200" if len(finals) == 1 and events and events[-1] == "[DONE]" else "200 incomplete stream"


class Client(threading.Thread):
    def __init__(self, port: int, indices: range, counter: list, lock: threading.Lock):
        super().__init__(daemon=True)
        self.port, self.indices, self.counter, self.lock = port, indices, counter, lock
        self.outcomes = collections.Counter()
        self.answered = 0
        self.not_200 = []  # (request, kind, outcome, the body's start): what went wrong, for the result

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        for n in self.indices:
            kind = KINDS[n % 3]
            path, body = request_for(kind, n)
            try:
                conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                key = judge(kind, resp.status, data)
            except Exception as e:  # noqa: BLE001 - a lost connection is an outcome too
                key, data = "error " + type(e).__name__, repr(e).encode()
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.outcomes["%s %s" % (kind, key)] += 1
            if key != "200":
                self.not_200.append([n, kind, key, data[:600].decode(errors="replace")])
            self.answered += 1
            with self.lock:
                self.counter[0] += 1
        conn.close()


def live_worker_pids(server: Server) -> list[int]:
    _, _, body = server.request("GET", "/v1/workers")
    return [w["pid"] for w in json.loads(body)["workers"] if w.get("pid")]


def summarize(samples: list, index: int) -> dict:
    values = [s[index] for s in samples]
    tenth = max(1, len(values) // 10)
    return {"first": values[0], "last": values[-1], "min": min(values), "max": max(values),
            "median_first_tenth": statistics.median(values[:tenth]),
            "median_last_tenth": statistics.median(values[-tenth:])}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--period", type=float, default=0.5)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    serve = ["--engine", "chaos", "--workers", "2", "--hang-limit", "1", "--log-level", "warn"]
    machine = {"nproc": os.cpu_count(), "loadavg_start": loadavg(),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    lock, counter = threading.Lock(), [0]
    signals_sent = collections.Counter()
    samples = []  # (seconds since start, requests answered, rss KiB, fds)
    with Server(a.vigil, serve) as server:
        pid = server.proc.pid
        clients = [Client(server.port, range(k, a.requests, a.clients), counter, lock) for k in range(a.clients)]
        t0 = time.monotonic()
        for c in clients:
            c.start()
        rng = random.Random(13)
        next_signal = next_sample = t0
        while any(c.is_alive() for c in clients):
            now = time.monotonic()
            if now >= next_sample:
                samples.append((round(now - t0, 1), counter[0]) + proc_sample(pid))
                next_sample += 1.0
            if now >= next_signal:
                pids = live_worker_pids(server)
                if pids:
                    sig = rng.choice(SIGNALS)
                    try:
                        os.kill(rng.choice(pids), sig)
                        signals_sent[sig.name] += 1
                    except ProcessLookupError:
                        pass
                next_signal += a.period
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        samples.append((round(elapsed, 1), counter[0]) + proc_sample(pid))
        _, _, metrics = server.request("GET", "/metrics")
        restarts = sum(float(l.split()[-1]) for l in metrics.decode().splitlines()
                       if l.startswith("vigil_worker_restarts_total"))
        health = server.request("GET", "/health")[0]
        crash_lines = server.crash_lines()
    machine["loadavg_end"] = loadavg()
    outcomes = collections.Counter()
    for c in clients:
        outcomes.update(c.outcomes)
    answered = sum(c.answered for c in clients)
    complete = sum(v for k, v in outcomes.items() if k.endswith(" 200"))
    result = {
        "script": "bench/soak.py",
        "command": "scripts/env.sh python3 " + " ".join(["bench/soak.py"] + sys.argv[1:]),
        "niceness": os.nice(0),
        "machine": machine, "serve_args": serve, "engine": "chaos", "clients": a.clients, "requests": a.requests,
        "mix": "a third each: JSON /analyze, SSE /analyze, OpenAI stream /v1/chat/completions",
        "signal_period_s": a.period, "signals_sent": dict(signals_sent),
        "signals_total": sum(signals_sent.values()), "worker_restarts": int(restarts),
        "answered": answered, "complete_200": complete, "lost": a.requests - answered,
        "outcomes": dict(sorted(outcomes.items())),
        "not_200": [f for c in clients for f in c.not_200][:20], "elapsed_s": round(elapsed, 1),
        "requests_per_s": round(answered / elapsed, 1),
        "supervisor_rss_kib": summarize(samples, 2), "supervisor_open_fds": summarize(samples, 3),
        "health_after": health, "server_crash_lines": len(crash_lines),
        "samples_every_s": 1.0, "sample_columns": ["s", "answered", "rss_kib", "open_fds"],
    }
    text = json.dumps(result, indent=2)
    print(text)
    rows = ",\n".join("    " + json.dumps(list(s)) for s in samples)  # one sample a line
    out = a.out or os.path.join(os.path.dirname(__file__), "results", "soak-%d.json" % a.requests)
    with open(out, "w") as f:
        f.write(text[:-2] + ',\n  "samples": [\n' + rows + "\n  ]\n}\n")
    return 0 if complete == a.requests and health == 200 and not crash_lines else 1


if __name__ == "__main__":
    sys.exit(main())
