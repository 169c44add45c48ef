#!/usr/bin/env python3
"""Device placement and device memory, through the real server and the
llama engine, on the CPU (CI has no GPU; scripts/gpu/ runs the same options
on one):

- `--worker-devices` spreads slots round-robin: each slot's worker gets its
  device, and /v1/workers shows it; a slot given a device that does not exist
  fails once (no restart loop) with a reason naming the devices there are,
  while the other slots serve;
- a worker whose context does not fit its memory (here an address-space cap
  stands in for a full GPU) fails its load with the typed cause: requests get
  503 out_of_memory with x-should-retry: false, /ready says why, and the slot
  loads again only after --oom-retry (memory may come back), never in a loop;
- /metrics carries the per-worker device gauges;
- `vigil devices` lists what the worker's libraries see.

    python3 tests/e2e/devices_test.py --vigil build/bin/vigil
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import unittest
from pathlib import Path

from vigil_e2e import Server

REPO = Path(__file__).resolve().parents[2]
VIGIL = ""
IMAGE = (REPO / "samples" / "01-red-circle.png").read_bytes()


def analyze(server: Server):
    import base64
    return server.json("POST", "/analyze", {"image": base64.b64encode(IMAGE).decode(),
                                            "prompt": "What colour is the circle?", "max_tokens": 8})


def workers(server: Server) -> list[dict]:
    return server.json("GET", "/v1/workers", None)[2]["workers"]


def _seconds(iso: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def wait_for(pred, bound: float, what: str):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.02)  # polling a server condition, bounded by the deadline
    raise AssertionError("timed out waiting for " + what)


class Devices(unittest.TestCase):
    def test_devices_lists_the_cpu(self):
        out = subprocess.run([VIGIL, "devices"], capture_output=True, text=True, timeout=30, check=True)
        devices = [json.loads(line) for line in out.stdout.splitlines()]
        cpu = [d for d in devices if d["type"] == "cpu"]
        self.assertEqual(len(cpu), 1, out.stdout)
        self.assertEqual(cpu[0]["name"], "CPU")
        self.assertGreater(cpu[0]["memory_total"], 0)

    def test_round_robin_and_a_bad_device_fails_alone(self):
        with Server(VIGIL, ["--workers", "3", "--threads", "1",
                            "--worker-devices", "CPU,NoSuchGpu7"]) as s:
            ws = wait_for(lambda: (lambda w: w if w[1]["state"] == "failed" and w[2]["state"] == "idle"
                                   and w[0]["state"] == "idle" else None)(workers(s)), 20,
                          "slots 0, 2 idle and slot 1 failed")
            self.assertEqual([w["assigned_device"] for w in ws], ["CPU", "NoSuchGpu7", "CPU"])
            self.assertEqual(ws[0]["model"]["device"], "CPU")
            self.assertEqual(ws[0]["model"]["gpu_layers"], 0)
            self.assertIn("no device named NoSuchGpu7 (devices: CPU", ws[1]["reason"])
            status, _, body = analyze(s)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["text"].strip(), "red")
            time.sleep(0.5)  # a failed slot must stay failed: give a restart loop time to show
            ws = workers(s)
            self.assertEqual(ws[1]["state"], "failed")
            self.assertEqual(ws[1]["restarts"], 0)
            status, _, _ = s.request("GET", "/ready")
            self.assertEqual(status, 200)

    def test_context_too_large_for_memory_is_a_typed_error(self):
        # 200M tokens of KV cache under a 3 GiB address-space cap cannot be allocated.
        with Server(VIGIL, ["--workers", "2", "--threads", "1", "--ctx", "200000000",
                            "--worker-memory-limit-mb", "3000", "--oom-retry", "1"], ready=False) as s:
            wait_for(lambda: all(w["state"] == "held" for w in workers(s)), 20, "both slots held")
            status, headers, body = analyze(s)
            self.assertEqual(status, 503, body)
            self.assertEqual(body["error"]["type"], "out_of_memory")
            self.assertIn("cannot create a context of 200000000 tokens", body["error"]["message"])
            self.assertIn("next load attempt in 1.0 s", body["error"]["message"])
            self.assertEqual(headers.get("x-should-retry"), "false")
            status, _, ready = s.request("GET", "/ready")
            self.assertEqual(status, 503)
            self.assertIn(b"out_of_memory", ready)
            # Memory may come back, so the slot loads again, once per --oom-retry: not a loop.
            ws = wait_for(lambda: (lambda w: w if all(len(x["recent_crashes"]) >= 2 for x in w) else None)(
                workers(s)), 20, "a second load attempt in each slot")
            for w in ws:
                times = sorted(c["time"] for c in w["recent_crashes"])
                gaps = [_seconds(b) - _seconds(a) for a, b in zip(times, times[1:])]
                self.assertTrue(all(g >= 0.9 for g in gaps), gaps)
                self.assertEqual({c["cause"] for c in w["recent_crashes"]}, {"load_out_of_memory"})
            _, _, metrics = s.request("GET", "/metrics")
            self.assertIn(b'vigil_worker_restarts_total{cause="load_out_of_memory"}', metrics)
            self.assertIn(b'vigil_worker_restarts_total{cause="fatal_config"} 0', metrics)
            self.assertEqual(s.crash_lines(), [])

    def test_default_spreads_by_slot_and_falls_back_to_the_cpu(self):
        with Server(VIGIL, ["--workers", "2", "--threads", "1"]) as s:
            ws = wait_for(lambda: (lambda w: w if all(x["state"] == "idle" for x in w) else None)(workers(s)),
                          20, "2 idle workers")
            self.assertEqual([w["assigned_device"] for w in ws], ["auto:0", "auto:1"])
            self.assertEqual([w["model"]["device"] for w in ws], ["CPU", "CPU"])  # no GPU here

    def test_metrics_report_device_gauges(self):
        with Server(VIGIL, ["--workers", "1", "--threads", "1"]) as s:
            status, _, body = s.request("GET", "/metrics")
            self.assertEqual(status, 200)
            text = body.decode()
            self.assertIn('vigil_worker_gpu_layers{slot="0"} 0', text)
            self.assertIn("# TYPE vigil_worker_device_memory_bytes gauge", text)


def main() -> int:
    global VIGIL
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigil", required=True)
    args, rest = parser.parse_known_args()
    VIGIL = args.vigil
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
