#!/usr/bin/env python3
"""Fault storm against the real `vigil serve` (issue 13, item 2), from outside.

8 clients send requests while a random live worker gets SIGKILL, SIGSEGV,
SIGABRT or SIGSTOP every --period s for --storm s; then we measure how long
until /ready answers 200 again and what fraction of the requests sent during
the storm were answered 200. Writes bench/results/storm-<engine>.json.

    python3 bench/storm.py --vigil build/bin/vigil [--engine chaos] [--storm 15] [--period 0.1]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import base64  # noqa: E402

from vigil_e2e import Server, png  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadavg import LoadSampler, read_loadavg  # noqa: E402

IMAGE = base64.b64encode(png(8, 8)).decode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--engine", default="chaos")
    ap.add_argument("--storm", type=float, default=15.0)
    ap.add_argument("--period", type=float, default=0.1)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    load = LoadSampler(period_s=2.0)
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(a.vigil)))
    machine = {"nproc": os.cpu_count(), "loadavg_start": read_loadavg(), "vigil_binary": f"{a.vigil} (built {built})",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args = ["--engine", a.engine, "--workers", "2", "--hang-limit", "1", "--log-level", "warn"]
    outcomes = collections.Counter()
    during = collections.Counter()
    stop = threading.Event()
    storming = threading.Event()
    with Server(a.vigil, args) as s:
        def client(i: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                obj = {"image": IMAGE, "prompt": "storm %d %d" % (i, n), "max_tokens": 16}
                try:
                    status, _, body = s.json("POST", "/analyze", obj)
                    key = str(status) if status == 200 else "%d %s" % (status, body["error"]["type"])
                except Exception as e:  # a lost connection is an outcome too
                    key = "error " + type(e).__name__
                outcomes[key] += 1
                if storming.is_set():
                    during[key] += 1
        threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # warm: the clients run before the storm
        rng = random.Random(7)
        sigs = [signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGSTOP]
        sent = 0
        storming.set()
        end = time.monotonic() + a.storm
        while time.monotonic() < end:
            status, _, body = s.request("GET", "/v1/workers")
            pids = [w["pid"] for w in json.loads(body)["workers"] if w.get("pid")]
            if pids:
                try:
                    os.kill(rng.choice(pids), rng.choice(sigs))
                    sent += 1
                except ProcessLookupError:
                    pass
            time.sleep(a.period)
        storming.clear()
        t_end = time.monotonic()
        ready_after = None
        while time.monotonic() - t_end < 60:
            if s.request("GET", "/ready")[0] == 200:
                ready_after = time.monotonic() - t_end
                break
            time.sleep(0.05)
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join()
        held = s.log_text().count("worker_restarts_held")
    total = sum(during.values())
    machine["loadavg_end"] = read_loadavg()
    machine["loadavg_during"] = load.stop()
    result = {"command": "python3 bench/storm.py " + " ".join(sys.argv[1:]), "machine": machine,
              "workers": 2, "engine": a.engine, "storm_s": a.storm, "period_s": a.period, "signals_sent": sent,
              "clients": a.clients, "requests_during_storm": total,
              "served_during_storm": during.get("200", 0),
              "fraction_served_during_storm": round(during.get("200", 0) / total, 4) if total else None,
              "outcomes_during_storm": dict(during), "outcomes_all": dict(outcomes),
              "ready_again_after_s": None if ready_after is None else round(ready_after, 3),
              "slots_held": held}
    print(json.dumps(result, indent=2))
    out = a.out or os.path.join(os.path.dirname(__file__), "results", "storm-%s.json" % a.engine)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    return 0 if ready_after is not None and ready_after < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
