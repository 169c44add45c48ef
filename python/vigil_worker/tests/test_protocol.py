"""The frame codec and message parsing (docs/protocol.md; src/protocol/ is the C++ twin)."""
from __future__ import annotations

import json
import struct
import unittest

from vigil_worker import protocol
from vigil_worker.protocol import Frame, MessageType, ProtocolError


def raw_frame(type_: int, header: bytes, payload: bytes = b"") -> bytes:
    return struct.pack("<IBI", 1 + 4 + len(header) + len(payload), type_, len(header)) + header + payload


class Codec(unittest.TestCase):
    def test_wire_layout_is_the_documented_one(self):
        data = protocol.encode_frame(protocol.heartbeat("idle", 0, 5))
        header = b'{"phase":"idle","job":0,"progress":5}'
        self.assertEqual(data, struct.pack("<IBI", 5 + len(header), 9, len(header)) + header)

    def test_round_trip_byte_by_byte(self):
        frames = [protocol.piece(7, "héllo ✓", [1, 2]), Frame(MessageType.JOB, {"job": 1}, b"\x00\xffpayload"),
                  protocol.failed(3, "invalid_image", "bad")]
        data = b"".join(protocol.encode_frame(f) for f in frames)
        decoder, got = protocol.FrameDecoder(), []
        for i in range(len(data)):
            decoder.feed(data[i:i + 1])
            while (f := decoder.next()) is not None:
                got.append(f)
        self.assertEqual([(f.type, f.header, f.payload) for f in got],
                         [(f.type, f.header, f.payload) for f in frames])

    def assert_poisoned(self, data: bytes, feed_more: bytes = b""):
        decoder = protocol.FrameDecoder()
        decoder.feed(data)
        with self.assertRaises(ProtocolError):
            decoder.next()
        decoder.feed(feed_more or raw_frame(9, b"{}"))
        with self.assertRaises(ProtocolError):  # poisoned for good: never resynchronised
            decoder.next()

    def test_garbage_is_rejected_early(self):
        self.assert_poisoned(b"\xff\xff\xff\xff")                        # body length, after 4 bytes
        self.assert_poisoned(struct.pack("<IB", 100, 42))              # unknown type, after 5 bytes
        self.assert_poisoned(struct.pack("<IBI", 100, 9, 1))           # header length below 2
        self.assert_poisoned(struct.pack("<IBI", 20, 9, 50))           # header longer than the body
        self.assert_poisoned(raw_frame(9, b"[1, 2]"))                  # header not an object
        self.assert_poisoned(raw_frame(9, b"{\"a\": \xff}"))           # not UTF-8

    def test_incomplete_frame_waits(self):
        decoder = protocol.FrameDecoder()
        decoder.feed(protocol.encode_frame(protocol.heartbeat("idle", 0, 1))[:-1])
        self.assertIsNone(decoder.next())


class Messages(unittest.TestCase):
    def job(self, header: dict, payload: bytes = b"") -> protocol.JobMessage:
        return protocol.parse_job(Frame(MessageType.JOB, header, payload))

    def test_full_job(self):
        m = self.job({"job": 9, "prompt": "p", "params": {"max_tokens": 4, "temperature": 0.5, "top_p": 0.9,
                                                            "top_k": 3, "seed": 2 ** 64 - 1, "stop": ["\n"],
                                                            "ignore_eos": True},
                      "max_image_pixels": 100, "fault": {"kind": "abort", "at": "after_tokens", "after_tokens": 2,
                                                         "exit_code": 7},
                      "messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
                      "resume_tokens": [5, 6], "images": [{"bytes": 2}, {"bytes": 3}], "future_field": 1},
                     b"abcde")
        self.assertEqual((m.job_id, m.prompt, m.max_image_pixels, m.resume_tokens), (9, "p", 100, (5, 6)))
        self.assertEqual(m.images, (b"ab", b"cde"))
        self.assertEqual((m.params.max_tokens, m.params.seed, m.params.stop, m.params.ignore_eos),
                         (4, 2 ** 64 - 1, ("\n",), True))
        self.assertEqual(m.fault, protocol.FaultSpec("abort", "after_tokens", 2, 7))
        self.assertEqual([p.type for p in m.messages[0].content], ["image", "text"])

    def test_single_image_payload_without_sizes(self):
        self.assertEqual(self.job({"job": 1, "prompt": "", "params": {}}, b"img").images, (b"img",))

    def test_malformed_jobs(self):
        base = {"job": 1, "prompt": "p", "params": {}}
        bad = [({"prompt": "p", "params": {}}, b""), ({"job": -1, "prompt": "p", "params": {}}, b""),
               ({"job": 1, "params": {}}, b""), ({"job": 1, "prompt": 5, "params": {}}, b""),
               (dict(base, params={"max_tokens": "x"}), b""), (dict(base, params={"temperature": 101}), b""),
               (dict(base, params={"stop": [""]}), b""), (dict(base, params={"stop": ["a"] * 17}), b""),
               (dict(base, resume_tokens=[-1]), b""), (dict(base, resume_tokens=[True]), b""),
               (dict(base, images=[{"bytes": 2}]), b"abc"), (dict(base, images=[{"bytes": 4}]), b"abc"),
               (dict(base, messages=[{"role": "user", "content": [{"type": "video"}]}]), b""),
               (dict(base, fault={"at": "before_first_token"}), b"")]
        for header, payload in bad:
            with self.subTest(header=header):
                with self.assertRaises(ProtocolError):
                    self.job(header, payload)

    def test_only_supervisor_frames_are_read(self):
        self.assertIsInstance(protocol.parse_supervisor_frame(Frame(MessageType.CANCEL, {"job": 3})),
                              protocol.CancelMessage)
        self.assertIsInstance(protocol.parse_supervisor_frame(Frame(MessageType.SHUTDOWN, {})),
                              protocol.ShutdownMessage)
        with self.assertRaises(ProtocolError):
            protocol.parse_supervisor_frame(Frame(MessageType.HELLO, {}))

    def test_worker_messages(self):
        from vigil_worker import ModelInfo
        loaded = protocol.loaded(12.5, ModelInfo(name="m", n_ctx=64, capacity=9), 3)
        self.assertEqual(loaded.header["capacity"], 3)
        self.assertNotIn("capacity", loaded.header["model"])
        done = protocol.done(1, "t", "stop", 2, 3, {"decode_ms": 1.0}, [{"width": 1}, {"width": 2}])
        self.assertEqual(done.header["image"], {"width": 1})  # what a reader of the first image only sees
        self.assertEqual(len(done.header["images"]), 2)
        self.assertNotIn("tokens", protocol.piece(1, "x", []).header)
        self.assertNotIn("image", protocol.progress(1, "prefill", 1, 2).header)
        self.assertEqual(json.loads(json.dumps(protocol.hello("e", 5).header))["protocol"], 2)


if __name__ == "__main__":
    unittest.main()
