#!/usr/bin/env python3
"""The Python transformers worker alone, driven over its protocol socket as
the supervisor drives it (no vigil binary): it answers with progress, pieces
carrying token ids and one done; it stops a cancelled job within a token and
serves on; out of memory in a job is a typed failure and the worker serves
on; a checkpoint that will not load is a typed failure of job 0 and exit 2.

    python3 tests/e2e/transformers_worker_test.py [--checkpoint models/default/hf]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))
from vigil_worker.protocol import Frame, FrameDecoder, MessageType, encode_frame  # noqa: E402

CHECKPOINT = REPO / "models" / "default" / "hf"
IMAGE = (REPO / "samples" / "01-red-circle.png").read_bytes()


class Worker:
    """A transformers worker on one end of a socketpair; this test is the supervisor."""

    def __init__(self, checkpoint: Path, extra: list[str] = ()):
        self.sock, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
        self.log = tempfile.TemporaryFile()  # the worker's stderr (a pipe could fill and block it)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil_worker.transformers_engine", "--checkpoint", str(checkpoint),
             "--fd", str(theirs.fileno()), "--threads", "2", "--ctx", "8192", *extra],
            pass_fds=[theirs.fileno()], env=env, stderr=self.log)
        theirs.close()
        self.decoder = FrameDecoder()
        self.heartbeats: list[dict] = []

    def next_frame(self, bound: float) -> Frame:
        """The next frame other than a heartbeat (kept in self.heartbeats)."""
        deadline = time.monotonic() + bound
        while True:
            frame = self.decoder.next()
            if frame is not None:
                if frame.type == MessageType.HEARTBEAT:
                    self.heartbeats.append(frame.header)
                    continue
                return frame
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                raise AssertionError("no frame within %.0f s" % bound) from None
            if not data:
                raise AssertionError("the worker closed its socket")
            self.decoder.feed(data)

    def until(self, types: set, bound: float) -> tuple[Frame, list[Frame]]:
        seen = []
        while True:
            frame = self.next_frame(bound)
            if frame.type in types:
                return frame, seen
            seen.append(frame)

    def send_job(self, job: int, prompt: str, image: bytes | None = IMAGE, **params) -> None:
        p = {"max_tokens": 24, "temperature": 0}
        p.update(params)
        header = {"job": job, "prompt": prompt, "params": p, "max_image_pixels": 50_000_000}
        if image:
            header["images"] = [{"bytes": len(image)}]
        self.sock.sendall(encode_frame(Frame(MessageType.JOB, header, image or b"")))

    def send(self, kind: MessageType, header: dict) -> None:
        self.sock.sendall(encode_frame(Frame(kind, header)))

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class LoadedWorker(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.w = Worker(CHECKPOINT)
        hello = cls.w.next_frame(30)
        assert hello.type == MessageType.HELLO and hello.header["engine"] == "transformers", hello
        loaded, _ = cls.w.until({MessageType.LOADED, MessageType.FAILED}, 120)
        assert loaded.type == MessageType.LOADED, loaded.header
        cls.loaded = loaded.header

    @classmethod
    def tearDownClass(cls):
        cls.w.send(MessageType.SHUTDOWN, {})
        cls.w.close()

    def test_loaded_facts(self):
        self.assertEqual(self.loaded["capacity"], 1)
        self.assertEqual(self.loaded["model"]["image_size"], 224)
        self.assertGreater(self.loaded["model"]["n_params"], 1_000_000)

    def test_answer_streams_pieces_with_ids(self):
        self.w.send_job(1, "What color is the circle?")
        done, seen = self.w.until({MessageType.DONE, MessageType.FAILED}, 60)
        self.assertEqual(done.type, MessageType.DONE, done.header)
        phases = [f.header["phase"] for f in seen if f.type == MessageType.PROGRESS]
        self.assertIn("image_encode", phases)
        self.assertIn("prefill", phases)
        pieces = [f.header for f in seen if f.type == MessageType.PIECE]
        self.assertEqual("".join(p["text"] for p in pieces), done.header["text"])
        ids = [t for p in pieces for t in p.get("tokens", [])]
        self.assertEqual(len(ids), done.header["usage"]["completion_tokens"])
        self.assertEqual(done.header["finish_reason"], "stop")
        self.assertGreater(done.header["usage"]["prompt_tokens"], 16)  # the image's 16 tokens and the text

    def test_special_token_text_in_the_prompt_is_plain_text(self):
        # The image placeholder's text typed by a user must not take an image
        # embedding (nor crash the worker), as with llama.cpp.
        self.w.send_job(9, "<image_soft_token><start_of_image> What color is the circle?")
        done, _ = self.w.until({MessageType.DONE, MessageType.FAILED}, 60)
        self.assertEqual(done.type, MessageType.DONE, done.header)

    def test_resume_tokens_continue_the_answer(self):
        self.w.send_job(2, "Describe the image.", max_tokens=64)
        whole, seen = self.w.until({MessageType.DONE}, 60)
        ids = [t for f in seen if f.type == MessageType.PIECE for t in f.header.get("tokens", [])]
        self.assertGreater(len(ids), 2)
        resumed = self.resume(3, "Describe the image.", ids[:2])
        self.assertEqual(resumed.header["text"], whole.header["text"])
        self.assertEqual(resumed.header["usage"], whole.header["usage"])
        # Tokens the model would not have chosen: the answer goes on from them.
        self.w.send_job(31, "What color is the circle?")
        red, seen = self.w.until({MessageType.DONE}, 60)
        red_ids = [t for f in seen if f.type == MessageType.PIECE for t in f.header.get("tokens", [])]
        forced = self.resume(32, "Describe the image.", red_ids)
        self.assertTrue(forced.header["text"].startswith(red.header["text"]), forced.header["text"])
        self.assertNotEqual(forced.header["text"], whole.header["text"])

    def resume(self, job: int, prompt: str, tokens: list[int]) -> Frame:
        header = {"job": job, "prompt": prompt, "params": {"max_tokens": 64, "temperature": 0},
                  "max_image_pixels": 50_000_000, "images": [{"bytes": len(IMAGE)}], "resume_tokens": tokens}
        self.w.sock.sendall(encode_frame(Frame(MessageType.JOB, header, IMAGE)))
        done, _ = self.w.until({MessageType.DONE}, 60)
        return done

    def test_cancel_stops_within_a_token_and_the_worker_serves_on(self):
        self.w.send_job(4, "Describe the image.", max_tokens=2000, ignore_eos=True)
        self.w.until({MessageType.PIECE}, 60)
        self.w.send(MessageType.CANCEL, {"job": 4})
        done, _ = self.w.until({MessageType.DONE}, 10)
        self.assertEqual(done.header["finish_reason"], "cancelled")
        self.assertLess(done.header["usage"]["completion_tokens"], 2000)
        self.w.send_job(5, "What color is the circle?")
        after, _ = self.w.until({MessageType.DONE}, 60)
        self.assertIn(after.header["finish_reason"], ("stop", "length"))

    def test_heartbeats_name_the_phase_and_job(self):
        self.w.heartbeats.clear()
        self.w.send_job(6, "Describe the image.", max_tokens=150, ignore_eos=True)
        self.w.until({MessageType.DONE}, 120)
        decoding = [h for h in self.w.heartbeats if h["phase"] == "decode"]
        self.assertTrue(decoding, self.w.heartbeats[:5])
        self.assertEqual({h["job"] for h in decoding}, {6})
        counters = [h["progress"] for h in decoding]
        self.assertGreater(counters[-1], counters[0])

    def test_out_of_memory_in_a_job_is_typed_and_the_worker_serves_on(self):
        # The address space capped a little above what the worker maps now: a
        # 3000-token prompt's attention cannot be allocated, a short one can.
        vm = int(next(l for l in open("/proc/%d/status" % self.w.proc.pid) if l.startswith("VmSize:")).split()[1])
        cap = (vm + 48 * 1024) * 1024
        old = resource.prlimit(self.w.proc.pid, resource.RLIMIT_AS)
        resource.prlimit(self.w.proc.pid, resource.RLIMIT_AS, (cap, old[1]))  # soft limit: it can be lifted again
        try:
            self.w.send_job(7, "circle " * 3000, image=None)
            failed, _ = self.w.until({MessageType.DONE, MessageType.FAILED}, 60)
        finally:
            resource.prlimit(self.w.proc.pid, resource.RLIMIT_AS, old)
        self.assertEqual(failed.type, MessageType.FAILED, failed.header)
        self.assertEqual(failed.header["code"], "out_of_memory")
        self.w.send_job(8, "What color is the circle?")
        after, _ = self.w.until({MessageType.DONE}, 60)
        self.assertIn(after.header["finish_reason"], ("stop", "length"))


class LoadFailures(unittest.TestCase):
    def load_fails(self, checkpoint: Path) -> dict:
        w = Worker(checkpoint)
        try:
            self.assertEqual(w.next_frame(30).type, MessageType.HELLO)
            failed, _ = w.until({MessageType.FAILED, MessageType.LOADED}, 60)
            self.assertEqual(w.proc.wait(30), 2)
        finally:
            w.close()
        self.assertEqual(failed.type, MessageType.FAILED)
        self.assertEqual(failed.header["job"], 0)
        return failed.header

    def test_missing_checkpoint(self):
        failed = self.load_fails(Path("/nonexistent/checkpoint"))
        self.assertIn("config.json", failed["message"])

    def test_unsupported_model(self):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "config.json").write_text(json.dumps({"model_type": "bert"}))
            failed = self.load_fails(Path(d))
        self.assertIn("unsupported", failed["message"])


def main() -> int:
    global CHECKPOINT
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    args, rest = parser.parse_known_args()
    CHECKPOINT = args.checkpoint
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
