#!/usr/bin/env python3
"""End-to-end tests of vigil's HTTP contract (issues 3 and 4) against the real
`vigil serve --engine chaos --allow-fault-injection`; with --python-worker,
against the Python port of the chaos engine behind --worker-command
(python/vigil_worker), which must give the same answers.

    python3 tests/e2e/http_contract_test.py --vigil build/bin/vigil [--python-worker]
"""
from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
import time
import unittest

from vigil_e2e import Server, multipart, png, png_declaring, pil_image, python_worker_args, sse_events

VIGIL = "vigil"
ENGINE_ARGS = ["--engine", "chaos"]  # --python-worker: python_worker_args()
LIMITS = ["--max-body-bytes", "2000000", "--max-image-bytes", "1000000", "--header-timeout", "0.5",
          "--body-timeout", "1", "--workers", "2"]


class Contract(unittest.TestCase):
    server: Server

    @classmethod
    def setUpClass(cls):
        cls.server = Server(VIGIL, ENGINE_ARGS + ["--allow-fault-injection"] + LIMITS).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        crashes = cls.server.crash_lines()
        assert not crashes, "crash lines in the server log: %r" % crashes

    def analyze_json(self, obj, headers=None):
        return self.server.json("POST", "/analyze", obj, headers)

    def assert_error(self, status, headers, body, want_status, want_type):
        self.assertEqual(status, want_status, body)
        err = body["error"] if isinstance(body, dict) else json.loads(body)["error"]
        self.assertEqual(err["type"], want_type)
        self.assertEqual(err["code"], want_status)
        self.assertTrue(err["message"])
        return err

    # --- liveness, readiness, introspection ---------------------------------
    def test_health_ready_aliases(self):
        for path in ("/health", "/livez", "/ready", "/readyz"):
            status, _, _ = self.server.request("GET", path)
            self.assertEqual(status, 200, path)

    def test_metrics_and_workers(self):
        self.analyze_json({"image": base64.b64encode(png(8, 8)).decode(), "prompt": "hi", "max_tokens": 3})
        status, headers, body = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        for name in ("vigil_requests_total{", "vigil_request_duration_seconds_bucket", "vigil_completion_tokens_total",
                     "vigil_time_to_first_token_seconds_bucket"):
            self.assertIn(name, text)
        status, _, body = self.server.request("GET", "/v1/workers")
        self.assertEqual(status, 200)
        self.assertIn("workers", json.loads(body))

    def test_external_worker_command_and_sandbox(self):
        """--worker-command: /v1/workers names the program; the supervisor applied the sandbox before
        exec (no_new_privs, descriptor cap, the worker user from the start, a network namespace)."""
        if "--worker-command" not in ENGINE_ARGS:
            self.skipTest("vigil-worker sandboxes itself (tests/unit/worker/sandbox_test.cc, sandbox_fault_test)")
        import os
        workers = json.loads(self.server.request("GET", "/v1/workers")[2])["workers"]
        w = next(w for w in workers if w["state"] in ("idle", "busy"))
        self.assertEqual(w["command"][1:3], ["-m", "vigil_worker.examples.chaos_engine"])
        self.assertIn("--ctx", w["command"])
        self.assertNotIn("--engine", w["command"])
        with open("/proc/%d/status" % w["pid"]) as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        with open("/proc/self/status") as f:
            ours = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        if ours["NoNewPrivs"].strip() == "0":  # under bubblewrap (scripts/env.sh) every process has it
            self.assertEqual(status["NoNewPrivs"].strip(), "1")
        with open("/proc/%d/limits" % w["pid"]) as f:
            self.assertRegex(f.read(), r"Max open files\s+1024\s+1024")
        if os.geteuid() == 0:  # --worker-user auto: nobody, from exec on
            self.assertNotEqual(status["Uid"].split()[0], "0", status["Uid"])
            self.assertNotEqual(os.readlink("/proc/%d/ns/net" % w["pid"]), os.readlink("/proc/self/ns/net"))

    def test_models(self):
        status, _, body = self.server.request("GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["data"][0]["object"], "model")

    def test_unknown_route_and_method(self):
        status, _, body = self.server.request("GET", "/nope")
        self.assert_error(status, None, json.loads(body), 404, "not_found")
        status, _, body = self.server.request("GET", "/analyze")
        self.assert_error(status, None, json.loads(body), 405, "method_not_allowed")

    # --- /analyze ------------------------------------------------------------
    def test_analyze_multipart(self):
        body, ctype = multipart({"image": ("x.png", png(16, 16)), "prompt": "what is it", "max_tokens": "4"})
        status, headers, data = self.server.request("POST", "/analyze", body, {"Content-Type": ctype})
        self.assertEqual(status, 200, data)
        out = json.loads(data)
        self.assertTrue(out["text"])
        self.assertEqual(out["attempts"], 1)
        self.assertEqual(out["usage"]["completion_tokens"], 4)
        self.assertEqual(out["image"]["width"], 16)
        for k in ("image_decode_ms", "image_encode_ms", "prefill_ms", "decode_ms", "total_ms"):
            self.assertIn(k, out["timings"])

    def test_analyze_json_base64_and_data_uri(self):
        for image in (base64.b64encode(pil_image("JPEG")).decode(),
                      "data:image/webp;base64," + base64.b64encode(pil_image("WEBP")).decode(),
                      base64.b64encode(pil_image("GIF")).decode()):
            status, _, out = self.analyze_json({"image": image, "prompt": "hi", "max_tokens": 2, "seed": 1,
                                                "temperature": 0})
            self.assertEqual(status, 200, out)
            self.assertEqual(out["usage"]["completion_tokens"], 2)

    def test_empty_prompt_gets_default(self):
        status, _, out = self.analyze_json({"image": base64.b64encode(png(4, 4)).decode(), "prompt": "",
                                            "max_tokens": 1})
        self.assertEqual(status, 200, out)

    def test_analyze_stream(self):
        for headers, extra in (({}, {"stream": True}), ({"Accept": "text/event-stream"}, {})):
            obj = {"image": base64.b64encode(png(8, 8)).decode(), "prompt": "p", "max_tokens": 5}
            obj.update(extra)
            h = {"Content-Type": "application/json"}
            h.update(headers)
            status, hdrs, data = self.server.request("POST", "/analyze", json.dumps(obj).encode(), h)
            self.assertEqual(status, 200)
            self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
            events = sse_events(data)
            finals = [e for e in events if "done" in e or "error" in e]
            self.assertEqual(len(finals), 1, events)
            self.assertIs(events[-1].get("done"), True)
            self.assertEqual(events[-1]["usage"]["completion_tokens"], 5)
            self.assertEqual(len([e for e in events if "text" in e]), 5)
            self.assertTrue(any("progress" in e for e in events))

    # --- the error table -----------------------------------------------------
    def test_bad_base64(self):
        self.assert_error(*self.analyze_json({"image": "abc!!!", "prompt": "x"}), 400, "invalid_request")

    def test_unknown_format(self):
        img = base64.b64encode(b"this is text, not an image").decode()
        self.assert_error(*self.analyze_json({"image": img, "prompt": "x"}), 415, "unsupported_image_format")

    def test_bmp_is_415(self):
        img = base64.b64encode(pil_image("BMP")).decode()
        self.assert_error(*self.analyze_json({"image": img, "prompt": "x"}), 415, "unsupported_image_format")

    def test_lying_and_truncated_headers(self):
        good = png(8, 8)
        lying = bytearray(good)
        lying[19] = 9  # width changed, CRC no longer matches
        for bad in (bytes(lying), good[:40], pil_image("JPEG")[:200], pil_image("GIF")[:20], b"\x89PNG\r\n\x1a\n"):
            err = self.assert_error(*self.analyze_json({"image": base64.b64encode(bad).decode(), "prompt": "x"}),
                                    422, "invalid_image")
            self.assertIn("invalid", err["message"])

    def test_huge_declared_dimensions(self):
        img = base64.b64encode(png_declaring(100000, 100000)).decode()
        err = self.assert_error(*self.analyze_json({"image": img, "prompt": "x"}), 422, "image_too_large")
        self.assertIn("50000000", err["message"])

    def test_oversize_body_413(self):
        body = b"x" * 3_000_000
        status, headers, data = self.server.request("POST", "/analyze", body, {"Content-Type": "application/json"})
        self.assert_error(status, headers, json.loads(data), 413, "payload_too_large")

    def test_oversize_image_413(self):
        img = base64.b64encode(png(8, 8) + b"\0" * 1_100_000).decode()
        err = self.assert_error(*self.analyze_json({"image": img, "prompt": "x"}), 413, "payload_too_large")
        self.assertIn("1000000", err["message"])

    def test_wrong_content_type(self):
        status, _, data = self.server.request("POST", "/analyze", b"hello", {"Content-Type": "text/plain"})
        self.assert_error(status, None, json.loads(data), 400, "invalid_request")

    def test_invalid_requests(self):
        img = base64.b64encode(png(4, 4)).decode()
        cases = [
            b'{"image": "%s", "prompt": "a", "prompt": "b"}' % img.encode(),   # duplicate field
            b'{"image": "%s", "x": ' % img.encode() + b"[" * 100 + b"]" * 100 + b"}",  # deep nesting
            b'{"image": "%s", "prompt": "\xff\xfe"}' % img.encode(),            # invalid UTF-8
            b'{"image": "%s", "max_tokens": 999999}' % img.encode(),            # over the limit
            b'{"image": "%s", "temperature": "hot"}' % img.encode(),            # wrong type
            b"not json",
            b"[1,2]",
        ]
        for body in cases:
            status, headers, data = self.server.request("POST", "/analyze", body, {"Content-Type": "application/json"})
            self.assert_error(status, headers, json.loads(data), 400, "invalid_request")
            self.assertEqual(headers.get("x-should-retry"), "false")
        # multipart: invalid UTF-8 prompt, no image
        for fields in ({"image": ("a.png", png(2, 2)), "prompt": b"\xc3\x28"},
                       {"prompt": "only text"}):
            body, ctype = multipart(fields)
            status, _, data = self.server.request("POST", "/analyze", body, {"Content-Type": ctype})
            self.assert_error(status, None, json.loads(data), 400, "invalid_request")
        # a second part named image is a second image, checked like the first
        body, ctype = multipart({"image": ("a.png", png(2, 2)), "prompt": "a", "image2": "x"})
        body = body.replace(b'name="image2"', b'name="image"')
        status, _, data = self.server.request("POST", "/analyze", body, {"Content-Type": ctype})
        self.assert_error(status, None, json.loads(data), 415, "unsupported_image_format")
        self.assertIn("image 2", json.loads(data)["error"]["message"])

    # --- connections -----------------------------------------------------------
    def test_slow_loris_is_cut_and_others_served(self):
        slow = socket.create_connection(("127.0.0.1", self.server.port))
        slow.sendall(b"POST /analyze HTTP/1.1\r\nHost: x\r\n")  # never finishes its header
        half = socket.create_connection(("127.0.0.1", self.server.port))
        half.sendall(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"image\":")  # never finishes its body
        t0 = time.monotonic()
        status, _, _ = self.server.request("GET", "/health", timeout=2)
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - t0, 1.0)
        for s, bound in ((slow, 3.0), (half, 4.0)):
            s.settimeout(bound)
            data = s.recv(4096)  # the server closes it: b"" (or a short reply), well within the bound
            self.assertLess(time.monotonic() - t0, bound)
            s.close()

    def test_abandoned_stream_cancels(self):
        obj = {"image": base64.b64encode(png(8, 8)).decode(), "prompt": "p", "max_tokens": 4000, "stream": True}
        body = json.dumps(obj).encode()
        s = socket.create_connection(("127.0.0.1", self.server.port))
        s.sendall(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % len(body) + body)
        s.settimeout(5)
        got = b""
        while b'"text"' not in got:
            chunk = s.recv(4096)
            self.assertTrue(chunk)
            got += chunk
        s.close()
        status, _, out = self.analyze_json({"image": obj["image"], "prompt": "after", "max_tokens": 2})
        self.assertEqual(status, 200, out)

    def test_keep_alive_reuses_connection(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        for _ in range(3):
            conn.request("GET", "/health")
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        conn.close()

    # --- the CLI client -----------------------------------------------------------
    def test_vigil_analyze_exit_codes(self):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            good, text, bomb = d + "/good.png", d + "/text.png", d + "/bomb.png"
            open(good, "wb").write(png(8, 8))
            open(text, "wb").write(b"just text")
            open(bomb, "wb").write(png_declaring(60000, 60000))
            run = lambda *a: subprocess.run([VIGIL, "analyze", "--server", self.server.url(), *a],
                                            capture_output=True, timeout=20)
            r = run(good, "describe", "--max-tokens", "3")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"chaos", r.stdout)
            r = run(text)
            self.assertEqual(r.returncode, 13, r.stderr)
            self.assertEqual(len(r.stderr.decode().strip().splitlines()), 1)
            self.assertEqual(run(bomb).returncode, 15)
            self.assertEqual(run(d + "/missing.png").returncode, 2)
            r = subprocess.run([VIGIL, "analyze", "--server", "http://127.0.0.1:1", good], capture_output=True,
                               timeout=20)
            self.assertEqual(r.returncode, 3, r.stderr)

    # --- faults (the supervisor and the worker) --------------------------------
    def test_fault_retried_then_exhausted(self):
        img = base64.b64encode(png(8, 8)).decode()
        status, headers, out = self.analyze_json({"image": img, "prompt": "fault once", "max_tokens": 3},
                                                 {"X-Vigil-Fault": "kind=segfault"})
        self.assertEqual(status, 200, out)
        self.assertEqual(out["attempts"], 2)
        status, headers, out = self.analyze_json(
            {"image": img, "prompt": "fault always", "max_tokens": 3,
             "fault": {"kind": "segfault", "every_attempt": True}})
        self.assertIn(status, (502, 422), out)
        self.assertIn(out["error"]["type"], ("worker_crashed", "input_quarantined"))
        self.assertEqual(headers.get("x-should-retry"), "false")
        status, _, out = self.analyze_json({"image": img, "prompt": "healthy", "max_tokens": 2})
        self.assertEqual(status, 200, out)
        status, _, body = self.server.request("GET", "/v1/workers")
        self.assertIn("SIGSEGV", body.decode())

    def test_fault_mid_stream(self):
        obj = {"image": base64.b64encode(png(8, 8)).decode(), "prompt": "mid", "max_tokens": 6, "stream": True,
               "temperature": 0, "seed": 3}
        status, _, data = self.server.request(
            "POST", "/analyze", json.dumps(obj).encode(),
            {"Content-Type": "application/json", "X-Vigil-Fault": "kind=abort;at=after_tokens;after_tokens=3"})
        self.assertEqual(status, 200)
        events = sse_events(data)
        finals = [e for e in events if "done" in e or "error" in e]
        self.assertEqual(len(finals), 1, events)

    def test_hang_times_out_at_the_deadline(self):
        img = base64.b64encode(png(8, 8)).decode()
        t0 = time.monotonic()
        status, headers, out = self.analyze_json({"image": img, "prompt": "hang", "max_tokens": 3},
                                                 {"X-Vigil-Fault": "kind=hang_busy", "X-Vigil-Timeout": "0.5"})
        elapsed = time.monotonic() - t0
        self.assert_error(status, headers, out, 504, "timeout")
        self.assertLess(elapsed, 3.0)
        status, _, out = self.analyze_json({"image": img, "prompt": "after hang", "max_tokens": 2})
        self.assertEqual(status, 200, out)

    def test_huge_prompt_413(self):
        img = base64.b64encode(png(4, 4)).decode()
        err = self.assert_error(*self.analyze_json({"image": img, "prompt": "p" * 1_000_000}), 413,
                                "payload_too_large")
        self.assertIn("65536", err["message"])

    def test_bad_fault_spec(self):
        img = base64.b64encode(png(4, 4)).decode()
        self.assert_error(*self.analyze_json({"image": img, "prompt": "x"}, {"X-Vigil-Fault": "kind=explode"}),
                          400, "invalid_request")


class Guarded(unittest.TestCase):
    """A server with --api-key, no fault injection, a small connection cap."""

    def test_api_key_and_fault_flag(self):
        with Server(VIGIL, ENGINE_ARGS + ["--api-key", "s3cret", "--max-connections", "3"]) as s:
            for path in ("/health", "/ready"):
                self.assertEqual(s.request("GET", path)[0], 200)
            status, headers, data = s.request("GET", "/v1/models")
            self.assertEqual(status, 401)
            self.assertEqual(json.loads(data)["error"]["type"], "unauthorized")
            status, _, _ = s.request("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
            self.assertEqual(status, 401)
            auth = {"Authorization": "Bearer s3cret"}
            self.assertEqual(s.request("GET", "/metrics", headers=auth)[0], 200)
            img = base64.b64encode(png(4, 4)).decode()
            status, _, out = s.json("POST", "/analyze", {"image": img, "prompt": "x", "max_tokens": 1}, auth)
            self.assertEqual(status, 200, out)
            h = dict(auth, **{"X-Vigil-Fault": "kind=segfault"})
            status, _, out = s.json("POST", "/analyze", {"image": img, "prompt": "x"}, h)
            self.assertEqual(status, 400, out)
            # Connection cap: three idle connections fill it; the fourth gets 503.
            idle = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(3)]
            extra = socket.create_connection(("127.0.0.1", s.port))
            extra.settimeout(5)
            self.assertIn(b"503", extra.recv(4096))
            for c in idle + [extra]:
                c.close()
            self.assertFalse(s.crash_lines())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigil", required=True)
    parser.add_argument("--python-worker", action="store_true", help="serve the Python chaos engine")
    args, rest = parser.parse_known_args()
    VIGIL = args.vigil
    if args.python_worker:
        ENGINE_ARGS[:] = python_worker_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
