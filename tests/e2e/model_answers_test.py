#!/usr/bin/env python3
"""The embedded default model, through the real server and the real image
path: each sample image of samples/ (PNG, JPEG, WebP; 100 to 640 px) asked
its questions, each answer checked exactly (samples/questions.json).

    python3 tests/e2e/model_answers_test.py --vigil build/bin/vigil

It fails if the path breaks the picture: swapped colour channels make the red
circle blue; cropping instead of resizing loses the corner objects of the
640 px JPEG; a wrong resize of the 100 px image loses its triangle. Also
checks, with the same server, that a red/blue swap done on purpose by the
test does change the answer (so the check itself can fail).
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import unittest
from pathlib import Path

from PIL import Image

from vigil_e2e import Server

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
SERVER: Server | None = None


def ask(image: bytes, question: str) -> dict:
    body = {"image": base64.b64encode(image).decode(), "prompt": question,
            "max_tokens": 24, "temperature": 0}
    status, headers, data = SERVER.json("POST", "/analyze", body)
    if status != 200:
        raise AssertionError("HTTP %d: %s" % (status, data))
    return data


class ModelAnswers(unittest.TestCase):
    def test_every_sample_question(self):
        questions = json.loads((SAMPLES / "questions.json").read_text())
        self.assertGreaterEqual(len(questions), 4)
        wrong = []
        for name, pairs in questions.items():
            image = (SAMPLES / name).read_bytes()
            for question, expected in pairs:
                got = ask(image, question)["text"].strip()
                if got != expected:
                    wrong.append("%s: %r -> %r (expected %r)" % (name, question, got, expected))
        self.assertEqual(wrong, [])

    def test_answer_reports_the_image_path(self):
        data = ask((SAMPLES / "02-corners.jpg").read_bytes(), "How many squares are there?")
        self.assertEqual(data["image"]["format"], "jpeg")
        self.assertEqual((data["image"]["width"], data["image"]["height"]), (640, 640))
        self.assertLessEqual(data["image"]["model_width"], 640)
        self.assertEqual(data["usage"]["completion_tokens"] > 0, True)

    def test_a_channel_swap_changes_the_answer(self):
        # The check above is only worth something if a broken path would fail
        # it: swap R and B here, and the red circle must be reported as blue.
        img = Image.open(SAMPLES / "01-red-circle.png").convert("RGB")
        r, g, b = img.split()
        buf = io.BytesIO()
        Image.merge("RGB", (b, g, r)).save(buf, "PNG")
        self.assertEqual(ask(buf.getvalue(), "What color is the circle?")["text"].strip(), "blue")

    def test_a_centre_crop_changes_the_answer(self):
        # What a crop-instead-of-resize path would feed the encoder: the
        # middle of the 640 px picture holds none of its corner objects.
        img = Image.open(SAMPLES / "02-corners.jpg").convert("RGB").crop((192, 192, 448, 448))
        buf = io.BytesIO()
        img.save(buf, "PNG")
        self.assertNotEqual(ask(buf.getvalue(), "How many squares are there?")["text"].strip(), "two")

    def test_server_log_is_clean(self):
        self.assertEqual(SERVER.crash_lines(), [])


def main() -> int:
    global SERVER
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigil", required=True)
    args, rest = parser.parse_known_args()
    # No --model: the server must find the embedded default model by itself.
    with Server(args.vigil, ["--workers", "1", "--threads", "2"]) as server:
        SERVER = server
        prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
        return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
