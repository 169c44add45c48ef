#!/usr/bin/env python3
"""The OpenAI route tested with the official OpenAI Python client, unchanged.

    python3 tests/e2e/openai_client_test.py --vigil build/bin/vigil
    python3 tests/e2e/openai_client_test.py --base-url http://127.0.0.1:8080/v1

With --vigil, starts `vigil serve --engine chaos --allow-fault-injection`.
"""
from __future__ import annotations

import argparse
import base64
import sys
import unittest

import openai

from vigil_e2e import Server, png

BASE_URL = ""
SERVER: Server | None = None


def image_message(text: str, image: bytes) -> list:
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": url}}]}]


class OpenAIClient(unittest.TestCase):
    def client(self, **kw) -> openai.OpenAI:
        return openai.OpenAI(base_url=BASE_URL, api_key="unused", timeout=20, **kw)

    def test_models(self):
        models = self.client().models.list()
        self.assertEqual(len(models.data), 1)

    def test_chat_non_stream(self):
        r = self.client().chat.completions.create(model="any", messages=image_message("what", png(8, 8)),
                                                  max_tokens=4, temperature=0, seed=1, stop=["zzz"])
        self.assertEqual(r.object, "chat.completion")
        self.assertTrue(r.choices[0].message.content)
        self.assertEqual(r.choices[0].finish_reason, "length")
        self.assertEqual(r.usage.completion_tokens, 4)

    def test_chat_text_only_and_system(self):
        r = self.client().chat.completions.create(
            model="any", max_completion_tokens=2,
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}])
        self.assertTrue(r.choices[0].message.content)

    def test_chat_stream_with_usage(self):
        stream = self.client().chat.completions.create(
            model="any", messages=image_message("stream it", png(8, 8)), max_tokens=5, stream=True,
            stream_options={"include_usage": True})
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        self.assertTrue(text)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        self.assertEqual(finishes, ["length"])
        self.assertEqual(chunks[-1].choices, [])
        self.assertEqual(chunks[-1].usage.completion_tokens, 5)

    def test_chat_stream_without_usage(self):
        chunks = list(self.client().chat.completions.create(
            model="any", messages=image_message("s", png(4, 4)), max_tokens=3, stream=True))
        self.assertTrue(all(c.object == "chat.completion.chunk" for c in chunks))
        self.assertIsNone(chunks[-1].usage)

    def test_bad_image_is_bad_request(self):
        with self.assertRaises(openai.BadRequestError):
            self.client().chat.completions.create(
                model="any", max_tokens=2,
                messages=[{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}])
        with self.assertRaises(openai.UnprocessableEntityError):
            self.client().chat.completions.create(model="any", messages=image_message("x", png(8, 8)[:30]))

    def test_remote_url_refused(self):
        with self.assertRaises(openai.BadRequestError):
            self.client().chat.completions.create(
                model="any", messages=[{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}])

    def test_exhausted_retries_not_retried_by_client(self):
        if SERVER is None:
            self.skipTest("needs a server started with --allow-fault-injection")
        client = self.client(max_retries=3)
        with self.assertRaises(openai.APIStatusError) as cm:
            client.chat.completions.create(
                model="any", messages=image_message("crash always", png(8, 8)), max_tokens=2,
                extra_headers={"X-Vigil-Fault": "kind=segfault;every_attempt=1"})
        self.assertIn(cm.exception.status_code, (502, 422))
        self.assertEqual(cm.exception.response.headers.get("x-should-retry"), "false")

    def test_error_after_stream_began(self):
        if SERVER is None:
            self.skipTest("needs a server started with --allow-fault-injection")
        stream = self.client(max_retries=0).chat.completions.create(
            model="any", messages=image_message("crash mid", png(8, 8)), max_tokens=20, stream=True,
            temperature=0.9, extra_headers={"X-Vigil-Fault": "kind=segfault;at=after_tokens;after_tokens=2;every_attempt=1"})
        got = []
        try:
            for c in stream:
                got.append(c)
        except openai.APIError:
            return  # a data: {"error": ...} event after text had been streamed
        # A deterministic replay may also finish the stream seamlessly.
        self.assertTrue(got)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigil")
    parser.add_argument("--base-url")
    args, rest = parser.parse_known_args()
    if args.vigil:
        SERVER = Server(args.vigil, ["--engine", "chaos", "--allow-fault-injection", "--workers", "2"]).__enter__()
        BASE_URL = SERVER.url() + "/v1"
    else:
        BASE_URL = args.base_url
    try:
        result = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False).result
    finally:
        if SERVER:
            SERVER.stop()
            crashes = SERVER.crash_lines()
            if crashes:
                print("crash lines in the server log:", crashes)
                sys.exit(1)
    sys.exit(0 if result.wasSuccessful() else 1)
