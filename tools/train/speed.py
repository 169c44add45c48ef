#!/usr/bin/env python3
"""Speed of the shipped model through `vigil serve` on this machine, for the
speed table of docs/model.md (rendered by tools/train/model_report.py).

    scripts/env.sh python3 tools/train/speed.py --vigil build/bin/vigil \\
        --json bench/results/model-speed.json

Starts `vigil serve` on the model pair at its defaults (what `./vigil demo`
runs; --threads T adds `--workers 1 --threads T`) --launches times and
records launch -> /ready and the tuning it logged ("tuning_chosen ..."); then sends --scenes fresh scenes (seed
--seed, drawn by shapes.py, PNG as drawn) to POST /analyze with "What is in
this image?", non-streamed, and keeps the timings vigil reports (image
encode, prefill, decode, the whole job) and whether each answer is the
canonical description; then asks a second question about the last image, to
show the embedding cache. Writes --json with provenance (command, model
SHA-256, machine, load average).
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import shapes  # noqa: E402
from provenance import Provenance  # noqa: E402

MODELS = HERE.parent.parent / "models" / "default"
PROMPT = "What is in this image?"
PHASES = ("image_encode_ms", "prefill_ms", "decode_ms", "total_ms")


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def serve_cmd(args) -> list[str]:
    cmd = [args.vigil, "serve", "--port", str(args.port), "--model", str(args.text), "--mmproj", str(args.mmproj)]
    return cmd + (["--workers", "1", "--threads", str(args.threads)] if args.threads else [])


def launch(args, log) -> tuple[subprocess.Popen, float]:
    """Starts vigil serve (its log to log); returns it and the seconds from launch to /ready 200 (polled every 10 ms)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(serve_cmd(args), stdout=subprocess.DEVNULL, stderr=log)
    while time.perf_counter() - t0 < 60:
        if get_status(f"http://127.0.0.1:{args.port}/ready") == 200:
            return proc, time.perf_counter() - t0
        time.sleep(0.01)
    proc.kill()
    raise SystemExit("vigil serve did not become ready in 60 s")


def analyze(port: int, png: bytes, prompt: str) -> dict:
    body = json.dumps({"image": base64.b64encode(png).decode(), "prompt": prompt, "temperature": 0,
                       "max_tokens": 24}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/analyze", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def summary(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--text", type=Path, default=MODELS / "vigil-shapes-text.gguf")
    ap.add_argument("--mmproj", type=Path, default=MODELS / "vigil-shapes-mmproj.gguf")
    ap.add_argument("--threads", type=int, help="--workers 1 --threads T; default: vigil's own choice")
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--port", type=int, default=18932)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    meta = Provenance("tools/train/speed.py", [args.text, args.mmproj])

    ready_s = []
    log = tempfile.TemporaryFile()
    for _ in range(args.launches - 1):
        proc, s = launch(args, log)
        ready_s.append(s)
        stop(proc)
    proc, s = launch(args, log)
    ready_s.append(s)
    rng = random.Random(args.seed)
    jobs = []
    try:
        for _ in range(args.scenes):
            scene = shapes.random_scene(rng)
            buf = io.BytesIO()
            shapes.render(scene).save(buf, "PNG")
            _, want = shapes.question(scene.objects, "describe", rng, canonical=True)
            r = analyze(args.port, buf.getvalue(), PROMPT)
            jobs.append({"timings": r["timings"], "usage": r["usage"], "text": r["text"], "want": want,
                         "right": r["text"].strip() == want})
        again = analyze(args.port, buf.getvalue(), "How many shapes are there?")
    finally:
        stop(proc)
    log.seek(0)
    # The line where vigil logs the tuning it chose ("serving with ..." before the event was named
    # tuning_chosen).
    tuning = next((x[x.index(k):] for x in log.read().decode(errors="replace").splitlines()
                   for k in ("tuning_chosen", "serving with") if k in x), None)
    server = "vigil serve" + (f" --workers 1 --threads {args.threads}" if args.threads else " (defaults)")
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(Path(args.vigil).stat().st_mtime))
    res = {**meta.finish(), "server": server, "vigil_binary": f"{args.vigil} (built {built})", "tuning": tuning,
           "prompt": PROMPT,
           "seed": args.seed, "ready_after_launch_s": ready_s,
           "phases_ms": {k: summary([j["timings"][k] for j in jobs]) for k in PHASES},
           "prompt_tokens": sorted({j["usage"]["prompt_tokens"] for j in jobs}),
           "completion_tokens": sorted({j["usage"]["completion_tokens"] for j in jobs}),
           "right": sum(j["right"] for j in jobs), "scenes": len(jobs),
           "repeated_image_follow_up": {"prompt": "How many shapes are there?", "timings": again["timings"]},
           "jobs": jobs}
    print(json.dumps({k: v for k, v in res.items() if k != "jobs"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
