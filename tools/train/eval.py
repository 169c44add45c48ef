#!/usr/bin/env python3
"""Accuracy of the shipped model per question type, greedy, through a server.

    scripts/env.sh python3 tools/train/eval.py                      # llama-server, all variants
    scripts/env.sh python3 tools/train/eval.py --variants clean --per-type 100
    scripts/env.sh python3 tools/train/eval.py --vigil build/bin/vigil       # vigil's own server
    scripts/env.sh python3 tools/train/eval.py --url http://127.0.0.1:8080 --route chat

The tables of docs/model.md come from two runs' result files, rendered by
tools/train/model_report.py:

    scripts/env.sh python3 tools/train/eval.py --vigil build/bin/vigil --threads 1 \
        --json bench/results/model-accuracy-vigil.json
    scripts/env.sh python3 tools/train/eval.py --variants clean \
        --json bench/results/model-accuracy-llama-server.json

Scenes come from shapes.py with a seed no training run used. Each scene is
asked every question type it allows (canonical wording), so each type gets
at least --per-type distinct images; the image is encoded once per scene
(the server reuses the cached prefix). Variants: the PNG as drawn (224 px),
JPEG at quality 75, and the PNG scaled to 640x640 and to 100x100 (Lanczos).

Routes: `completion` sends exactly the prompt vigil builds (Gemma turn, the
image marker, a newline, the question) to llama-server's /completion;
`chat` sends an OpenAI chat request (image part, then text part) to
/v1/chat/completions, as any client of vigil or llama-server would. Without
--url, llama-server (the engine vigil embeds) or, with --vigil, vigil's own
server is started on the model pair.
Prints a markdown table and writes --json: the results, the failures, and
where they came from (command, model files' SHA-256, machine, load average).
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import shapes  # noqa: E402
from provenance import Provenance  # noqa: E402

EVAL_SEED = 4242  # train.py uses 20261129 and 20261131 (+1 for its own eval)
MODELS = HERE.parent.parent / "models" / "default"
TYPE_NAMES = {"describe": "description", "count_all": "count (all shapes)",
              "count_shape": "count (one shape)", "color": "colour", "yesno": "yes/no",
              "shape": "shape"}


def encode(img: Image.Image, variant: str) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if variant == "jpeg75":
        img.save(buf, "JPEG", quality=75)
        return buf.getvalue(), "image/jpeg"
    if variant in ("640", "100"):
        n = int(variant)
        img = img.resize((n, n), Image.LANCZOS)
    img.save(buf, "PNG")
    return buf.getvalue(), "image/png"


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


class Client:
    def __init__(self, base: str, route: str):
        self.base, self.route, self.marker = base, route, None
        if route == "completion":
            with urllib.request.urlopen(base + "/props", timeout=10) as r:
                self.marker = json.loads(r.read()).get("media_marker", "<__media__>")

    def ask(self, data: bytes, mime: str, q: str) -> str:
        b64 = base64.b64encode(data).decode()
        if self.route == "completion":
            prompt = f"<start_of_turn>user\n{self.marker}\n{q}<end_of_turn>\n<start_of_turn>model\n"
            r = post(self.base + "/completion", {
                "prompt": {"prompt_string": prompt, "multimodal_data": [b64]},
                "n_predict": 24, "temperature": 0, "cache_prompt": True})
            return r["content"]
        r = post(self.base + "/v1/chat/completions", {
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{b64}"}},
                {"type": "text", "text": q}]}],
            "max_tokens": 24, "temperature": 0})
        return r["choices"][0]["message"]["content"]


def start_server(args) -> tuple[subprocess.Popen, float]:
    """llama-server, or with --vigil the vigil binary's own server."""
    if args.vigil:
        cmd = [args.vigil, "serve", "--port", str(args.port), "--model", str(args.text),
               "--mmproj", str(args.mmproj), "--workers", "1", "--threads", str(args.threads)]
        probe = "/ready"
    else:
        cmd = ["llama-server", "-m", str(args.text), "--mmproj", str(args.mmproj), "--port",
               str(args.port), "-t", str(args.threads), "-c", "2048", "-np", "1", "--no-webui"]
        probe = "/health"
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{args.port}{probe}", timeout=1)
            return proc, time.time() - t0
        except Exception:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{cmd[0]} did not become ready")


def server_version(binary: str) -> str:
    """'llama-server 0.7.0 (build ...)' from its --version, or the bare name."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return binary
    line = next((x for x in (out.stdout + out.stderr).splitlines() if x.startswith("version")), "")
    return f"{binary} {line.split(':', 1)[1].strip()}" if line else binary


def scenes_for(per_type: int, seed: int):
    """Scenes with their canonical questions until every type has per_type."""
    rng = random.Random(seed)
    counts = dict.fromkeys(shapes.TYPES, 0)
    while min(counts.values()) < per_type:
        scene = shapes.random_scene(rng)
        qa = []
        for t in shapes.possible_types(scene.objects):
            if counts[t] < per_type:
                counts[t] += 1
                qa.append((t, *shapes.question(scene.objects, t, rng, canonical=True)))
        if qa:
            yield scene, qa


def run_variant(client: Client, variant: str, per_type: int, seed: int, failures: list) -> dict:
    hits = {t: [0, 0] for t in shapes.TYPES}
    t0 = time.time()
    for scene, qa in scenes_for(per_type, seed):
        data, mime = encode(shapes.render(scene), variant)
        for qtype, q, want in qa:
            got = client.ask(data, mime, q).strip()
            hits[qtype][0] += got == want
            hits[qtype][1] += 1
            if got != want and len(failures) < 200:
                failures.append({"variant": variant, "type": qtype, "q": q, "want": want,
                                 "got": got, "objects": [o.__dict__ for o in scene.objects]})
    res = {t: {"correct": c, "n": n, "acc": round(c / n, 4)} for t, (c, n) in hits.items()}
    res["_seconds"] = round(time.time() - t0, 1)
    return res


def table(results: dict) -> str:
    variants = list(results)
    lines = ["| question type | " + " | ".join(variants) + " |",
             "|---|" + "---|" * len(variants)]
    for t in shapes.TYPES:
        cells = [f"{results[v][t]['acc'] * 100:.1f} % ({results[v][t]['correct']}/{results[v][t]['n']})"
                 for v in variants]
        lines.append(f"| {TYPE_NAMES[t]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", type=Path, default=MODELS / "vigil-shapes-text.gguf")
    ap.add_argument("--mmproj", type=Path, default=MODELS / "vigil-shapes-mmproj.gguf")
    ap.add_argument("--url", help="a running server (vigil or llama-server); else start llama-server")
    ap.add_argument("--vigil", help="start this vigil binary's server instead of llama-server")
    ap.add_argument("--route", choices=["completion", "chat"],
                    help="default: chat for vigil and --url, completion for llama-server")
    ap.add_argument("--variants", default="clean,jpeg75,640,100")
    ap.add_argument("--per-type", type=int, default=500)
    ap.add_argument("--seed", type=int, default=EVAL_SEED)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--port", type=int, default=18931)
    ap.add_argument("--json", type=Path, help="write results and failures here")
    args = ap.parse_args()

    meta = Provenance("tools/train/eval.py", [args.text, args.mmproj])
    proc = None
    base = args.url
    args.route = args.route or ("completion" if not (args.url or args.vigil) else "chat")
    if not base:
        proc, ready_s = start_server(args)
        base = f"http://127.0.0.1:{args.port}"
        print(f"{'vigil' if args.vigil else 'llama-server'} ready in {ready_s:.2f} s", flush=True)
    results, failures = {}, []
    try:
        client = Client(base, args.route)
        for v in args.variants.split(","):
            results[v] = run_variant(client, v, args.per_type, args.seed, failures)
            print(v, json.dumps({t: r["acc"] if isinstance(r, dict) else r
                                 for t, r in results[v].items()}), flush=True)
    finally:
        if proc:
            proc.terminate()
            proc.wait()
    print(table(results))
    if args.json:
        server = args.url or ("vigil serve" if args.vigil else server_version("llama-server"))
        args.json.write_text(json.dumps({**meta.finish(), "server": server, "threads": args.threads,
                                         "route": args.route, "seed": args.seed, "per_type": args.per_type,
                                         "results": results, "failures": failures}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
