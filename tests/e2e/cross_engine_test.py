#!/usr/bin/env python3
"""The default model two ways, the same greedy answers: the GGUF pair served
by vigil's llama.cpp worker, and its Hugging Face checkpoint
(models/default/hf/) served by the Python transformers worker through
`vigil serve --worker-command`. Every question of samples/questions.json, on
the real image path (PNG, JPEG, WebP; 100 to 640 px), must give the same text
and the same token counts both ways (so the prompt was built token for token
alike); so must a conversation with a system prompt and an image in each of
two turns (/v1/chat/completions).

    python3 tests/e2e/cross_engine_test.py --vigil build/bin/vigil

The comparison can fail: a red/blue swap made on purpose by the test must
change the Python worker's answer, so it does look at the picture.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import shlex
import sys
import unittest
from pathlib import Path

from PIL import Image

from vigil_e2e import Server, use_python_package, world_readable_copy

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
ARGS: argparse.Namespace | None = None
ANSWERS: dict[str, dict] = {}   # engine -> {(image, question): response}
PYTHON_SERVER: Server | None = None


def worker_command(checkpoint: Path) -> str:
    """The --worker-command of the transformers worker, on world-readable
    copies of the package and the checkpoint (vigil_e2e.world_readable_copy)."""
    use_python_package()
    checkpoint = world_readable_copy(checkpoint)
    return shlex.join([sys.executable, "-m", "vigil_worker.transformers_engine", "--checkpoint", str(checkpoint)])


def ask(server: Server, image: bytes, question: str) -> dict:
    body = {"image": base64.b64encode(image).decode(), "prompt": question, "max_tokens": 24, "temperature": 0}
    status, _, data = server.json("POST", "/analyze", body)
    if status != 200:
        raise AssertionError("HTTP %d: %s" % (status, data))
    return data


def data_uri(name: str) -> str:
    kind = {"png": "png", "jpg": "jpeg", "webp": "webp"}[name.rsplit(".", 1)[1]]
    return "data:image/%s;base64,%s" % (kind, base64.b64encode((SAMPLES / name).read_bytes()).decode())


def ask_a_conversation(server: Server) -> dict:
    """A system prompt, two turns, an image in each (before and after the
    text): the chat template's whole path, images where their parts stand."""
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_uri("01-red-circle.png")}},
                                     {"type": "text", "text": "What color is the circle?"}]},
        {"role": "assistant", "content": "red"},
        {"role": "user", "content": [{"type": "text", "text": "And how many squares are there here?"},
                                     {"type": "image_url", "image_url": {"url": data_uri("02-corners.jpg")}}]},
    ]
    status, _, data = server.json("POST", "/v1/chat/completions",
                                  {"messages": messages, "max_tokens": 24, "temperature": 0})
    if status != 200:
        raise AssertionError("HTTP %d: %s" % (status, data))
    return {"text": data["choices"][0]["message"]["content"], "usage": data["usage"]}


def ask_every_question(server: Server) -> dict:
    out = {("conversation", ""): ask_a_conversation(server)}
    for name, pairs in json.loads((SAMPLES / "questions.json").read_text()).items():
        image = (SAMPLES / name).read_bytes()
        for question, _ in pairs:
            out[(name, question)] = ask(server, image, question)
    return out


class CrossEngine(unittest.TestCase):
    def test_same_greedy_answers(self):
        llama, python = ANSWERS["llama"], ANSWERS["python"]
        self.assertGreaterEqual(len(llama), 4)
        differ = []
        for key, want in llama.items():
            got = python[key]
            if (got["text"], got["usage"]) != (want["text"], want["usage"]):
                differ.append("%s %r: llama %r %s, python %r %s" % (
                    key[0], key[1], want["text"], want["usage"], got["text"], got["usage"]))
        self.assertEqual(differ, [])

    def test_python_answers_are_the_expected_ones(self):
        wrong = [(k, r["text"]) for k, r in ANSWERS["python"].items() if k[0] != "conversation"
                 and r["text"].strip() != dict(json.loads((SAMPLES / "questions.json").read_text())[k[0]])[k[1]]]
        self.assertEqual(wrong, [])

    def test_a_channel_swap_changes_the_python_answer(self):
        img = Image.open(SAMPLES / "01-red-circle.png").convert("RGB")
        r, g, b = img.split()
        buf = io.BytesIO()
        Image.merge("RGB", (b, g, r)).save(buf, "PNG")
        self.assertEqual(ask(PYTHON_SERVER, buf.getvalue(), "What color is the circle?")["text"].strip(), "blue")

    def test_the_python_worker_served(self):
        status, _, data = PYTHON_SERVER.request("GET", "/v1/workers")
        self.assertEqual(status, 200)
        self.assertIn(b"transformers", data)

    def test_server_logs_are_clean(self):
        self.assertEqual(PYTHON_SERVER.crash_lines(), [])


def main() -> int:
    global ARGS, PYTHON_SERVER
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigil", required=True)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "models" / "default" / "hf")
    parser.add_argument("--model", help="text GGUF (default: the embedded default model)")
    parser.add_argument("--mmproj")
    ARGS, rest = parser.parse_known_args()
    common = ["--workers", "1", "--threads", "2", "--spare-workers", "0"]
    llama_args = common + (["--model", ARGS.model, "--mmproj", ARGS.mmproj] if ARGS.model else [])
    with Server(ARGS.vigil, llama_args, ready=False) as server:
        server.wait_ready(60.0)  # a loaded machine (CI) may take a while
        ANSWERS["llama"] = ask_every_question(server)
        server.stop()
        assert server.crash_lines() == [], server.crash_lines()
    python = Server(ARGS.vigil, common + ["--worker-command", worker_command(ARGS.checkpoint)], ready=False)
    with python as server:
        server.wait_ready(120.0)  # torch and transformers import in seconds, longer on a loaded machine
        PYTHON_SERVER = server
        ANSWERS["python"] = ask_every_question(server)
        prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
        if not prog.result.wasSuccessful():
            sys.stderr.write(server.log_text()[-4000:])
        return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
