"""The runtime end to end over a socketpair, with a fake supervisor: the life
of a worker (docs/protocol.md), jobs, cancel, typed errors, and every fault."""
from __future__ import annotations

import signal
import time
import unittest

from vigil_worker import protocol
from vigil_worker.protocol import Frame, MessageType as T, ProtocolError
from vigil_worker.tests.harness import FakeSupervisor, job
from vigil_worker.tests.test_images import png

CHAOS = "vigil_worker.examples.chaos_engine"
BROKEN = "vigil_worker.tests.broken_engine"


class Worker(unittest.TestCase):
    def start(self, module: str = CHAOS, *args: str, handshake: bool = True) -> FakeSupervisor:
        s = FakeSupervisor(module, *args)
        self.addCleanup(s.close)
        if handshake:
            self.loaded = s.handshake()
        return s

    def run_job(self, s: FakeSupervisor, frame: Frame) -> tuple[list[Frame], Frame]:
        s.send(frame)
        frames = s.read_until(T.DONE)
        return frames[:-1], frames[-1]

    def text(self, pieces: list[Frame]) -> str:
        return "".join(p.header["text"] for p in pieces if p.type == T.PIECE)

    # --- life ---
    def test_hello_loaded_job_shutdown(self):
        s = FakeSupervisor(CHAOS, "--jobs", "3", "--some-future-flag")
        self.addCleanup(s.close)
        hello = s.read()
        self.assertEqual(hello.type, T.HELLO)
        self.assertEqual((hello.header["protocol"], hello.header["engine"], hello.header["pid"]),
                         (2, "chaos-python", s.proc.pid))
        loaded = s.read_until(T.LOADED)[-1]
        self.assertEqual(loaded.header["capacity"], 3)
        self.assertEqual(loaded.header["model"]["name"], "chaos")
        frames, done = self.run_job(s, job(1, max_tokens=5))
        pieces = [f for f in frames if f.type == T.PIECE]
        self.assertEqual(len(pieces), 5)
        self.assertTrue(all(len(p.header["tokens"]) == 1 for p in pieces))
        self.assertEqual(done.header["text"], self.text(pieces))
        self.assertEqual(done.header["finish_reason"], "length")
        self.assertEqual(done.header["usage"], {"prompt_tokens": 2, "completion_tokens": 5})
        self.assertEqual(set(done.header["timings"]), {"image_decode_ms", "image_encode_ms", "prefill_ms",
                                                      "decode_ms"})
        s.send(Frame(T.SHUTDOWN, {}))
        self.assertEqual(s.wait(), 0)
        self.assertIn("ignoring flags --some-future-flag", s.output())

    def test_shutdown_finishes_running_jobs_first(self):
        s = self.start(CHAOS, "--chaos-tokens-per-second", "50")
        s.send(job(1, max_tokens=5))
        s.send(Frame(T.SHUTDOWN, {}))
        self.assertEqual(s.read_until(T.DONE)[-1].header["usage"]["completion_tokens"], 5)
        self.assertEqual(s.wait(), 0)

    def test_heartbeats_every_100_ms(self):
        s = self.start()
        t0, beats = time.monotonic(), []
        while len(beats) < 5:
            f = s.read(skip_heartbeats=False)
            if f.type == T.HEARTBEAT:
                beats.append(f)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(beats[-1].header["phase"], "idle")
        self.assertEqual(beats[-1].header["job"], 0)

    def test_eof_and_garbage_from_the_supervisor_exit_3(self):
        s = self.start()
        s.sock.close()
        self.assertEqual(s.wait(), 3)
        s = self.start()
        s.sock.sendall(b"\xff\xff\xff\xffnonsense")
        self.assertEqual(s.wait(), 3)
        self.assertIn("bad frame from the supervisor", s.output())

    # --- jobs ---
    def test_same_text_for_the_same_job_and_resume_replays(self):
        s = self.start()
        _, first = self.run_job(s, job(1, max_tokens=6))
        frames, again = self.run_job(s, job(2, max_tokens=6))
        self.assertEqual(first.header["text"], again.header["text"])
        ids = [t for f in frames if f.type == T.PIECE for t in f.header["tokens"]]
        frames, resumed = self.run_job(s, job(3, max_tokens=6, resume_tokens=ids[:3]))
        self.assertEqual(resumed.header["text"], first.header["text"])
        self.assertEqual(resumed.header["usage"]["completion_tokens"], 6)
        self.assertEqual([f.header["tokens"] for f in frames if f.type == T.PIECE][:3], [[i] for i in ids[:3]])

    def test_stop_string(self):
        s = self.start()
        _, whole = self.run_job(s, job(1, max_tokens=6))
        second_word = whole.header["text"].split(" ")[1]
        frames, done = self.run_job(s, job(2, max_tokens=6, params={"stop": [" " + second_word]}))
        self.assertEqual(done.header["finish_reason"], "stop")
        self.assertEqual(done.header["text"], whole.header["text"].split(" ")[0])
        self.assertEqual(self.text(frames), done.header["text"])

    def test_jobs_run_together_up_to_capacity(self):
        s = self.start(CHAOS, "--jobs", "2", "--chaos-tokens-per-second", "100")
        t0 = time.monotonic()
        s.send(job(1, max_tokens=10))
        s.send(job(2, prompt="another prompt", max_tokens=10))
        dones = [f for f in s.read_until(T.DONE) + s.read_until(T.DONE) if f.type == T.DONE]
        self.assertEqual(sorted(d.header["job"] for d in dones), [1, 2])
        self.assertLess(time.monotonic() - t0, 0.19)  # together (10 tokens at 100/s = 0.1 s), not one after the other

    def test_cancel_running_and_queued(self):
        s = self.start(CHAOS, "--chaos-tokens-per-second", "20")
        s.send(job(1, max_tokens=1000))
        s.send(job(2, max_tokens=1000))  # capacity 1: queued
        while s.read().type != T.PIECE:
            pass
        s.send(Frame(T.CANCEL, {"job": 2}))
        s.send(Frame(T.CANCEL, {"job": 1}))
        s.send(Frame(T.CANCEL, {"job": 99}))  # unknown: ignored
        frames = s.read_until(T.DONE) + s.read_until(T.DONE)
        dones = {f.header["job"]: f for f in frames if f.type == T.DONE}
        self.assertEqual({j: d.header["finish_reason"] for j, d in dones.items()}, {1: "cancelled", 2: "cancelled"})
        self.assertGreater(dones[1].header["usage"]["completion_tokens"], 0)
        self.assertFalse([f for f in frames if f.type == T.PIECE and f.header["job"] == 2])

    def test_engine_returning_on_cancel_ends_cancelled(self):
        s = self.start(BROKEN)
        s.send(job(1, prompt="until_cancel", max_tokens=10))
        while s.read().type != T.PIECE:
            pass
        s.send(Frame(T.CANCEL, {"job": 1}))
        done = s.read_until(T.DONE)[-1]
        self.assertEqual(done.header["finish_reason"], "cancelled")

    def test_images_are_checked_and_reported(self):
        s = self.start()
        frames, done = self.run_job(s, job(1, max_tokens=2, images=[{"bytes": len(png(16, 9))}] * 2,
                                           payload=png(16, 9) * 2))
        self.assertEqual([i["width"] for i in done.header["images"]], [16, 16])
        self.assertEqual(done.header["usage"]["prompt_tokens"], 2 + 32)
        phases = [(f.header["phase"], f.header.get("image")) for f in frames if f.type == T.PROGRESS]
        self.assertIn(("image_encode", 2), phases)
        for payload, code in ((b"not an image", "unsupported_image_format"),
                              (png(100000, 100000), "image_too_large")):
            s.send(job(2, payload=payload))
            failed = s.read_until(T.FAILED)[-1]
            self.assertEqual(failed.header["code"], code)
        self.assertEqual(self.run_job(s, job(3))[1].header["job"], 3)  # the worker goes on

    def test_typed_job_errors_and_refused_faults(self):
        s = self.start(CHAOS, "--ctx", "64")
        s.send(job(1, prompt="word " * 70))
        self.assertEqual(s.read_until(T.FAILED)[-1].header["code"], "prompt_too_long")
        s.send(job(2, fault={"kind": "segfault"}))
        failed = s.read_until(T.FAILED)[-1]
        self.assertEqual((failed.header["code"], failed.header["message"]),
                         ("invalid_request", "fault injection disabled"))
        s = self.start(BROKEN)
        s.send(job(3, prompt="bad_input"))
        frames = s.read_until(T.FAILED)
        self.assertEqual(frames[-1].header["code"], "invalid_image")
        self.assertEqual(self.text(frames), "one ")
        self.assertEqual(self.run_job(s, job(4))[1].header["text"], "one two")

    def test_an_engine_bug_aborts_with_its_traceback(self):
        s = self.start(BROKEN)
        s.send(job(1, prompt="bug"))
        self.assertEqual(s.wait(), -signal.SIGABRT)
        out = s.output()
        self.assertIn("KeyError: 'a bug in the engine'", out)
        self.assertIn("the engine raised in job 1", out)

    def test_load_failures_are_typed_and_exit_2(self):
        for kind, code in (("load_error", "internal"), ("oom", "out_of_memory"),
                           ("memory_error", "out_of_memory"), ("exception", "internal")):
            with self.subTest(kind=kind):
                s = self.start(BROKEN, "--fail-load", kind, handshake=False)
                self.assertEqual(s.read().type, T.HELLO)
                failed = s.read_until(T.FAILED)[-1]
                self.assertEqual((failed.header["job"], failed.header["code"]), (0, code))
                self.assertEqual(s.wait(), 2)
        self.assertIn("FileNotFoundError", s.output())

    def test_bad_flags_exit_2(self):
        s = self.start(CHAOS, "--jobs", "0", handshake=False)
        self.assertEqual(s.wait(), 2)
        self.assertIn("--jobs", s.output())


class Faults(unittest.TestCase):
    """Each fault kind as vigil-worker's (src/worker/fault.h), plus the Python-only ones."""

    def fault(self, kind: str, *args: str, at: str = "after_tokens", exit_code: int = 7,
              address_space_limit: int = 0) -> FakeSupervisor:
        s = FakeSupervisor(CHAOS, "--allow-fault-injection", "--chaos-tokens-per-second", "200", *args,
                           address_space_limit=address_space_limit)
        self.addCleanup(s.close)
        s.handshake()
        s.send(job(1, max_tokens=10, fault={"kind": kind, "at": at, "after_tokens": 2, "exit_code": exit_code}))
        return s

    def assert_dies(self, kind: str, status: int, evidence: str, address_space_limit: int = 0):
        s = self.fault(kind, address_space_limit=address_space_limit)
        pieces = 0
        while (f := s.read()) is not None:
            pieces += f.type == T.PIECE
        self.assertEqual(pieces, 2)  # after_tokens=2: dies after the second piece
        self.assertEqual(s.wait(), status)
        out = s.output()
        self.assertIn("injecting fault " + kind, out)
        self.assertIn(evidence, out)

    def test_deaths(self):
        self.assert_dies("segfault", -signal.SIGSEGV, "Fatal Python error: Segmentation fault")
        self.assert_dies("abort", -signal.SIGABRT, "injecting fault abort")
        self.assert_dies("exit", 7, "injecting fault exit")
        self.assert_dies("exception", -signal.SIGABRT, "InjectedFault")

    def test_oom_under_an_address_space_limit(self):
        self.assert_dies("oom", -signal.SIGABRT, "out of memory", address_space_limit=512 << 20)

    def frozen_progress(self, s: FakeSupervisor, want_heartbeats: bool) -> None:
        """Reads 1 s of frames after the fault: heartbeats with a frozen counter, or none."""
        while s.read(skip_heartbeats=False).type != T.PIECE:
            pass
        deadline, beats = time.monotonic() + 1.0, []
        while (left := deadline - time.monotonic()) > 0:
            try:
                f = s.read(left, skip_heartbeats=False)
            except TimeoutError:
                break
            if f.type == T.HEARTBEAT:
                beats.append(f.header)
        if not want_heartbeats:
            self.assertLessEqual(len(beats), 2, beats)  # those sent before the GIL was taken
            return
        self.assertGreater(len(beats), 5)
        self.assertEqual(len({b["progress"] for b in beats[2:]}), 1, beats)
        self.assertEqual((beats[-1]["phase"], beats[-1]["job"]), ("decode", 1))

    def test_hangs(self):
        for kind in ("hang_busy", "hang_syscall"):
            with self.subTest(kind=kind):
                s = self.fault(kind)
                while s.read().type != T.PIECE:
                    pass
                self.frozen_progress(s, want_heartbeats=True)
                self.assertIsNone(s.proc.poll())
        self.frozen_progress(self.fault("hang_gil"), want_heartbeats=False)

    def test_garbage_and_close_protocol(self):
        s = self.fault("garbage")
        with self.assertRaises(ProtocolError):
            while s.read() is not None:
                pass
        s = self.fault("close_protocol")
        while s.read() is not None:
            pass
        time.sleep(0.2)  # the process must outlive its closed socket (the supervisor kills it)
        self.assertIsNone(s.proc.poll())

    def test_fault_at_load(self):
        s = FakeSupervisor(CHAOS, "--allow-fault-injection", "--fault-at-load", "exit")
        self.addCleanup(s.close)
        self.assertEqual(s.wait(), 1)
        self.assertIn("injecting fault exit", s.output())


if __name__ == "__main__":
    unittest.main()
