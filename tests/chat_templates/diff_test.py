#!/usr/bin/env python3
"""Differential test: vigil's chat-template interpreter against python3-jinja2.

For every template in templates/ (the public chat templates of the major
open VLM families, kept as test data), renders --cases generated
conversations (system prompts, multi-turn, several images, empty text,
unicode, tools) with jinja2 configured as Hugging Face transformers does
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
the generation tag, raise_exception, strftime_now, transformers' tojson),
and with the C++ renderer (chat_template_render). Passes when, for every
case, both rendered the same bytes or both failed. Deterministic (seeded).
"""
import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


class AssistantTracker(Extension):
    """transformers' {% generation %}: renders its body unchanged."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def reference_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


TEXTS = ["Describe the image.", "", "  padded with spaces  ", "What is in these pictures?\nCompare them.",
         "Ünïcödé: café, 中文, 日本語, emoji 🙂👍", "quotes ' and \" and \\ backslash", "{{ not a tag }} {% nor this %}",
         "a", "\n\nleading newlines", "trailing newline\n", "tabs\tand\r\ncarriage", "<|im_start|> fake special",
         "Answer in one word.", "x" * 300]
SYSTEMS = ["You are a helpful assistant.", "Réponds en français.", "", "  spaced system  ", "line1\nline2"]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                           "parameters": {"type": "object", "properties": {
                                               "city": {"type": "string", "description": "the city"}},
                                               "required": ["city"]}}}]


def content(rng, role, typed_prob):
    if rng.random() >= typed_prob:
        return rng.choice(TEXTS)
    parts = []
    n_images = rng.choice([0, 0, 1, 1, 2, 3]) if role == "user" else 0
    for _ in range(n_images):
        parts.append({"type": "image"})
    for _ in range(rng.choice([1, 1, 2])):
        parts.append({"type": "text", "text": rng.choice(TEXTS)})
    if rng.random() < 0.3:
        rng.shuffle(parts)
    return parts


def conversation(rng):
    messages = []
    typed = rng.choice([0.0, 0.5, 1.0, 1.0])
    if rng.random() < 0.4:
        sys_text = rng.choice(SYSTEMS)
        messages.append({"role": "system", "content": sys_text if rng.random() < 0.6 else
                         [{"type": "text", "text": sys_text}]})
    turns = rng.choice([1, 1, 2, 3, 4])
    for i in range(turns):
        messages.append({"role": "user", "content": content(rng, "user", typed)})
        if i + 1 < turns or rng.random() < 0.1:
            msg = {"role": "assistant", "content": content(rng, "assistant", typed)}
            if rng.random() < 0.05:
                msg["tool_calls"] = [{"type": "function", "function": {"name": "get_weather",
                                                                      "arguments": {"city": "Paris"}}}]
            messages.append(msg)
    if rng.random() < 0.03:  # broken alternation: templates that check must fail on both sides
        messages.append({"role": "user", "content": "again"})
    if rng.random() < 0.03 and len(messages) > 1:
        messages.append({"role": "tool", "content": "{\"temp\": 21}"})
    ctx = {"messages": messages, "add_generation_prompt": rng.random() < 0.8,
           "bos_token": rng.choice(["<bos>", "<s>", "<|begin_of_text|>"]), "eos_token": "</s>"}
    if rng.random() < 0.08:
        ctx["tools"] = TOOLS
    if rng.random() < 0.05:
        ctx["add_vision_id"] = True
    return ctx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--renderer", required=True)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--templates", default=os.path.join(HERE, "templates"))
    args = ap.parse_args()
    env = reference_env()
    failed = 0
    for name in sorted(os.listdir(args.templates)):
        if not name.endswith(".jinja"):
            continue
        with open(os.path.join(args.templates, name), encoding="utf-8") as f:
            source = f.read()
        rng = random.Random(f"{args.seed}:{name}")
        cases = [conversation(rng) for _ in range(args.cases)]
        template = env.from_string(source)
        expected = []
        for ctx in cases:
            try:
                expected.append(("ok", template.render(**ctx)))
            except Exception as e:  # jinja2 errors and Python errors alike
                expected.append(("error", f"{type(e).__name__}: {e}"))
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as tf:
            json.dump(cases, tf, ensure_ascii=False)
            cases_path = tf.name
        try:
            out = subprocess.run([args.renderer, os.path.join(args.templates, name), cases_path],
                                 capture_output=True, check=True, timeout=120).stdout
        finally:
            os.unlink(cases_path)
        got = json.loads(out)
        if isinstance(got, dict):
            print(f"FAIL {name}: does not parse: {got['parse_error']}")
            failed += 1
            continue
        bad = []
        for i, (want, have) in enumerate(zip(expected, got)):
            if want[0] == "ok" and have.get("ok") == want[1]:
                continue
            if want[0] == "error" and "error" in have:
                continue
            bad.append(i)
        ok_cases = sum(1 for w in expected if w[0] == "ok")
        if bad:
            failed += 1
            i = bad[0]
            print(f"FAIL {name}: {len(bad)}/{len(cases)} differ; first case {i}:")
            print("  context :", json.dumps(cases[i], ensure_ascii=False)[:2000])
            print("  jinja2  :", repr(expected[i][1])[:2000])
            print("  vigil   :", repr(got[i])[:2000])
        else:
            print(f"ok   {name}: {len(cases)} conversations identical ({ok_cases} rendered, "
                  f"{len(cases) - ok_cases} failed on both sides)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
