#!/usr/bin/env python3
"""Several images per request, prompted as the model's own chat template says.

Runs the real `vigil serve` on the tiny test model (a Gemma3 GGUF with the
Gemma 3 chat template) and checks: two images in one chat message and as
repeated /analyze fields are accepted, each reported, each encoded (two
different images cost two encodes, the same image twice one), progress comes
per image, the image-count limit answers 400. When llama-server is on PATH
it also runs it on the same model, and on the tiny Qwen2-VL (M-RoPE image
positions), Qwen2.5-VL (windowed vision attention) and SmolVLM (tiles, a
template that takes typed content) models that tools/modelgen writes beside
it, and requires the same prompt_tokens and the same greedy answer for one
image, two images, a multi-turn conversation with a system message, an image
larger than the encoder's nominal side, and a finely detailed one (issue
12's goal).
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_e2e import Server, multipart, png, sse_events  # noqa: E402


def data_uri(b):
    return "data:image/png;base64," + base64.b64encode(b).decode()


def image_part(b):
    return {"type": "image_url", "image_url": {"url": data_uri(b)}}


# BLUE is wider than Qwen2.5-VL's 112-pixel attention windows; WIDE is larger
# than the Qwen encoders' nominal 560-pixel side, which they do not resize to
# (their token count grows with the picture).
RED, BLUE = png(64, 48, (220, 20, 20)), png(240, 180, (20, 20, 220))
WIDE = png(900, 640, (30, 160, 40))
# Fine detail larger than SmolVLM's 128-pixel tiles (and smaller than
# Gemma 3's 896-pixel square): shrinking it before the encoder would change
# what the tiles see, and so the answer.
DETAIL = png(600, 400, textured=True)
CASES = {
    "one image": [{"role": "user", "content": [image_part(RED), {"type": "text", "text": "What color is it?"}]}],
    "two images": [{"role": "user", "content": [image_part(RED), image_part(BLUE),
                                                {"type": "text", "text": "Compare the two pictures."}]}],
    "multi-turn with system": [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": [image_part(RED), {"type": "text", "text": "Describe it."}]},
        {"role": "assistant", "content": "A red square."},
        {"role": "user", "content": [{"type": "text", "text": "And this one?"}, image_part(BLUE)]},
    ],
    "large image": [{"role": "user", "content": [image_part(WIDE), {"type": "text", "text": "What is it?"}]}],
    "detailed image": [{"role": "user", "content": [image_part(DETAIL), {"type": "text", "text": "What is it?"}]}],
}
# (family, file prefix) of the tiny models tools/modelgen writes (CMakeLists.txt).
FAMILIES = [("gemma3", "vigil-tiny"), ("qwen2vl", "vigil-tiny-qwen2vl"), ("qwen25vl", "vigil-tiny-qwen25vl"),
            ("smolvlm", "vigil-tiny-smolvlm")]


def chat(port, messages):
    body = json.dumps({"model": "m", "messages": messages, "temperature": 0, "max_tokens": 24}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        out = json.loads(r.read())
    return out["usage"]["prompt_tokens"], out["choices"][0]["message"]["content"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_server(text, mmproj):
    exe = shutil.which("llama-server")
    if not exe:
        return None, None
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
    proc = subprocess.Popen([exe, "-m", text, "--mmproj", mmproj, "--host", "127.0.0.1", "--port", str(port),
                             "-np", "1", "-c", "4096", "-t", "2", "--jinja", "--no-warmup"],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("llama-server did not become healthy; log: " + open(log.name).read()[-2000:])


def check_gemma3_extras(s, ours, failures):
    """Multi-image behaviour beyond parity, on the gemma3 server."""
    status, _, body = s.request("GET", "/v1/models")
    models = json.loads(body)
    if models["data"][0]["id"] != "tiny-gemma3":
        failures.append(f"--model-name not shown: {models}")
    # /analyze with repeated image fields, streamed: progress per image.
    a, _ = multipart({"image": ("red.png", RED)}, "b0undary")
    b, _ = multipart({"image": ("blue.png", BLUE), "prompt": "Compare.", "stream": "true"}, "b0undary")
    form, ctype = a[: a.rindex(b"--b0undary--")] + b, "multipart/form-data; boundary=b0undary"
    status, _, body = s.request("POST", "/analyze", form, {"Content-Type": ctype})
    events = sse_events(body)
    done = [e for e in events if e.get("done")]
    if status != 200 or not done or len(done[0]["images"]) != 2:
        failures.append(f"/analyze with two images: {status} {body[:500]!r}")
    encoded = {e["progress"].get("image") for e in events if "progress" in e and e["progress"]["phase"] == "image_encode"}
    if encoded != {1, 2}:
        failures.append(f"image_encode progress per image missing: {encoded}")
    # Ollama routes: an `images` list is the same prompt as the OpenAI
    # request with those image parts before the text, so the same answer.
    b64 = [base64.b64encode(x).decode() for x in (RED, BLUE)]
    opts = {"temperature": 0, "num_predict": 24}
    question = "Compare the two pictures."
    for route, body, text_of in (
        ("/api/chat", {"messages": [{"role": "user", "content": question, "images": b64}]},
         lambda r: r["message"]["content"]),
        ("/api/generate", {"prompt": question, "images": b64}, lambda r: r["response"]),
    ):
        status, _, got = s.json("POST", route, {"model": "tiny-gemma3", "stream": False, "options": opts, **body})
        if status != 200 or (got["prompt_eval_count"], text_of(got)) != ours["two images"]:
            failures.append(f"{route} with two images: {status} {str(got)[:300]}; chat gave {ours['two images']}")
    status, _, got = s.json("POST", "/api/generate", {"model": "tiny-gemma3", "prompt": "x", "images": b64 * 2})
    if status != 400 or "--max-images" not in json.dumps(got):
        failures.append(f"/api/generate with 4 images, --max-images 3: {status} {str(got)[:300]}")
    # Too many images: 400 naming the limit.
    four = [{"role": "user", "content": [image_part(RED)] * 4 + [{"type": "text", "text": "x"}]}]
    status, _, body = s.json("POST", "/v1/chat/completions", {"messages": four})
    if status != 400 or "--max-images" not in json.dumps(body):
        failures.append(f"4 images with --max-images 3: {status} {str(body)[:300]}")


def run_family(args, family, prefix, failures):
    text = os.path.join(args.models, prefix + "-text.gguf")
    mmproj = os.path.join(args.models, prefix + "-mmproj.gguf")
    if not os.path.exists(text):
        print(f"{family}: no model {text}; skipped")
        return
    with Server(args.vigil, ["--model", text, "--mmproj", mmproj, "--workers", "1", "--threads", "2",
                             "--max-images", "3", "--model-name", "tiny-" + family]) as s:
        ours = {name: chat(s.port, msgs) for name, msgs in CASES.items()}
        if not ours["two images"][0] > ours["one image"][0]:
            failures.append(f"{family}: two images did not add prompt tokens: {ours}")
        # Every encoder gets the picture at full size, as llama-server gives
        # it: libmtmd resizes it the model's way.
        status, _, got = s.json("POST", "/analyze", {"image": data_uri(WIDE), "prompt": "x", "max_tokens": 1})
        width = got["image"]["model_width"] if status == 200 else None
        if width != 900:
            failures.append(f"{family}: a 900x640 image reached the encoder {width} px wide ({status})")
        if family == "gemma3":
            check_gemma3_extras(s, ours, failures)
        if s.crash_lines():
            failures.append(f"{family}: crash lines: " + "\n".join(s.crash_lines()))
    proc, port = start_llama_server(text, mmproj)
    if not proc:
        print("llama-server not on PATH: parity with it not checked")
        return
    try:
        for name, msgs in CASES.items():
            theirs = chat(port, msgs)
            print(f"{family} {name}: vigil prompt_tokens={ours[name][0]} answer={ours[name][1]!r}; "
                  f"llama-server prompt_tokens={theirs[0]} answer={theirs[1]!r}")
            if ours[name] != theirs:
                failures.append(f"{family} {name}: vigil {ours[name]} != llama-server {theirs}")
    finally:
        proc.terminate()
        proc.wait(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--family", action="append", help="only these families (default: all present)")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.models, "vigil-tiny-text.gguf")):
        print("SKIP: no tiny model in", args.models)
        return 0
    failures = []
    for family, prefix in FAMILIES:
        if not args.family or family in args.family:
            run_family(args, family, prefix, failures)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
