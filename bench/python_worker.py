#!/usr/bin/env python3
"""What vigil's supervision costs a Python engine: the transformers worker
behind `vigil serve --worker-command` against the same transformers model run
directly in a Python loop, same machine, same run, same prompts.

    scripts/env.sh python3 bench/python_worker.py [--rounds 5] [--tokens 48] [--threads 1]

Direct: a child process loads the checkpoint (models/default/hf/ by default)
and, per prompt, decodes the image, encodes it, prefills and generates greedily
(ignoring end of generation, --tokens tokens) in a plain loop over the
model's forward with a KV cache: the least any serving code can do.
Through vigil: one worker (`--workers 1 --spare-workers 0`, same --threads),
a streamed /analyze request with the same image, question and settings.

Measured per request: time to first token (direct: from the image bytes to
the first sampled token; vigil: from sending the request to the first text
event) and decode speed (tokens after the first over the time from the first
to the last token, or text event). Rounds alternate direct and vigil prompt
by prompt, so load on the machine falls on both alike. Reported: medians,
and pooled ratios (sums over every request), vigil / direct; the goal is
<= 1.05 for time to first token and >= 0.95 for tokens/s. Both must produce
the same text (greedy), or the run says so.

Writes bench/results/python-worker.json.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
import types

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "python"))
# bench/run.py (machine facts, git revision, http_get) is imported only in
# the parent process: it imports numpy, which the direct child must not
# import before torch (see DirectProcess).

GOAL_TTFT_RATIO = 1.05
GOAL_TPS_RATIO = 0.95


def prompts():
    """(image name, its first question, image path) for each sample image."""
    questions = json.load(open(os.path.join(REPO, "samples", "questions.json")))
    return [(name, pairs[0][0], os.path.join(REPO, "samples", name)) for name, pairs in questions.items()]


class Direct:
    """The checkpoint in this process (the --direct-child process): inputs
    prepared as the worker prepares them (same prompt ids, same pixels), then
    plain transformers calls."""

    def __init__(self, checkpoint: str, threads: int, ctx: int):
        import torch
        from vigil_worker.engine import WorkerConfig
        from vigil_worker.transformers_engine.engine import TransformersEngine

        torch.set_num_threads(threads)
        self.torch = torch
        self.engine = TransformersEngine()  # its loader, prompt builder and image path
        config = WorkerConfig(fd=-1, model=checkpoint, ctx=ctx, threads=threads,
                              args=types.SimpleNamespace(checkpoint=checkpoint))
        self.engine.load(config, lambda: None)
        self.model = self.engine.model

    def run(self, image: bytes, question: str, tokens: int) -> dict:
        from vigil_worker.transformers_engine import images as image_path
        from transformers import DynamicCache

        torch, e = self.torch, self.engine
        t0 = time.perf_counter()
        picture = image_path.decode(image, e.image_size)
        ids, is_image = e.prompt.ids(e.prompt.text(question, (), 1), 1)
        pixel_values = e.processor(images=[picture], return_tensors="pt")["pixel_values"]
        input_ids = torch.tensor([ids])
        times, out_ids = [], []
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, pixel_values=pixel_values,
                             token_type_ids=torch.tensor([is_image]).long(),
                             past_key_values=DynamicCache(config=self.model.config), use_cache=True,
                             logits_to_keep=1)
            for _ in range(tokens):
                logits = out.logits[0, -1].float()
                logits[list(e.eog)] = float("-inf")  # ignore_eos, as the request asks
                token = int(torch.argmax(logits))
                times.append(time.perf_counter())
                out_ids.append(token)
                if len(out_ids) == tokens:
                    break
                out = self.model(input_ids=torch.tensor([[token]]), past_key_values=out.past_key_values,
                                 use_cache=True)
        return {"ttft_ms": (times[0] - t0) * 1000, "tokens": len(out_ids),
                "decode_s": times[-1] - times[0], "text": e.tokenizer.decode(out_ids)}


class DirectProcess:
    """Direct in a fresh child process, so that both sides compute in a process
    that imported the same libraries in the same order (torch first): a
    process that imports numpy before torch may start OpenBLAS with threads
    of its own, and this script imports numpy (bench/run.py)."""

    def __init__(self, checkpoint: str, threads: int, ctx: int):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--direct-child", "--checkpoint", checkpoint,
             "--threads", str(threads), "--ctx", str(ctx)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.facts = self._reply()

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the direct process died")
        return json.loads(line)

    def run(self, image: str, question: str, tokens: int) -> dict:
        self.proc.stdin.write(json.dumps({"image": image, "question": question, "tokens": tokens}) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(30)


def direct_child(args) -> int:
    """--direct-child: loads the checkpoint, then answers one JSON request per
    stdin line ({"image": path, "question", "tokens"}) with Direct.run's result."""
    direct = Direct(args.checkpoint, args.threads, args.ctx)
    print(json.dumps({"blas": blas_library(), "torch": direct.torch.__version__}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        image = open(req["image"], "rb").read()
        print(json.dumps(direct.run(image, req["question"], req["tokens"])), flush=True)
    return 0


class Served:
    """vigil serve with the transformers worker as its one worker."""

    def __init__(self, vigil: str, checkpoint: str, threads: int, ctx: int):
        command = shlex.join([sys.executable, "-m", "vigil_worker.transformers_engine", "--checkpoint", checkpoint])
        env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"))  # the workers inherit it
        self.log = open("/tmp/vigil-bench-python-worker-%d.log" % os.getpid(), "ab")
        self.proc = subprocess.Popen(
            [vigil, "serve", "--port", "0", "--worker-command", command, "--workers", "1", "--spare-workers", "0",
             "--threads", str(threads), "--ctx", str(ctx), "--log-level", "warn", "--request-timeout", "900"],
            stdout=subprocess.PIPE, stderr=self.log, env=env)
        import run as B

        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            raise SystemExit("vigil did not start: %r; see %s" % (line, self.log.name))
        self.port = int(line.strip().rsplit(":", 1)[1])
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if B.http_get(self.port, "/ready")[0] == 200:
                    return
            except OSError:  # 503 (urllib raises it) until the worker has loaded
                pass
            time.sleep(0.1)
        raise SystemExit("vigil not ready; see " + self.log.name)

    def run(self, image_path: str, question: str, tokens: int) -> dict:
        image = open(image_path, "rb").read()
        body = json.dumps({"image": base64.b64encode(image).decode(), "prompt": question, "max_tokens": tokens,
                           "temperature": 0, "ignore_eos": True, "stream": True})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        events, text, final = [], "", None
        t0 = time.perf_counter()
        conn.request("POST", "/analyze", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise SystemExit("HTTP %d: %s" % (resp.status, resp.read()[:300]))
        for line in resp:
            if not line.startswith(b"data:"):
                continue
            ev = json.loads(line[5:])
            if ev.get("text"):
                events.append(time.perf_counter())
                text += ev["text"]
            if "done" in ev or "error" in ev:
                final = ev
        conn.close()
        if not final or "error" in final:
            raise SystemExit("request failed: %r" % final)
        n = final.get("usage", {}).get("completion_tokens", 0)
        return {"ttft_ms": (events[0] - t0) * 1000, "tokens": n, "decode_s": events[-1] - events[0], "text": text}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def blas_library() -> str:
    """The BLAS this process's torch computes with (torch's generic BLAS is
    whatever libblas.so.3 resolves to: reference BLAS or OpenBLAS differ ~10x)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1]}
    return ", ".join(sorted(paths)) or "?"


def tps(r: dict) -> float:
    return (r["tokens"] - 1) / r["decode_s"] if r["decode_s"] > 0 else 0.0


def summarize(direct: list[dict], served: list[dict]) -> dict:
    def med(rows, f):
        return statistics.median(f(r) for r in rows)

    pooled_tps = {k: sum(r["tokens"] - 1 for r in rows) / sum(r["decode_s"] for r in rows)
                  for k, rows in (("direct", direct), ("vigil", served))}
    out = {
        "ttft_ms_median": {"direct": med(direct, lambda r: r["ttft_ms"]), "vigil": med(served, lambda r: r["ttft_ms"])},
        "tokens_per_s_median": {"direct": med(direct, tps), "vigil": med(served, tps)},
        "tokens_per_s_pooled": pooled_tps,
        # vigil / direct: time to first token over the sums; tokens/s pooled
        "ttft_ratio_pooled": sum(r["ttft_ms"] for r in served) / sum(r["ttft_ms"] for r in direct),
        "ttft_ratio_median_of_pairs": statistics.median(s["ttft_ms"] / d["ttft_ms"] for d, s in zip(direct, served)),
        "tps_ratio_pooled": pooled_tps["vigil"] / pooled_tps["direct"],
        "tps_ratio_median_of_pairs": statistics.median(tps(s) / tps(d) for d, s in zip(direct, served)),
        "same_text": all(d["text"] == s["text"] for d, s in zip(direct, served)),
    }
    out["goal_met"] = out["ttft_ratio_pooled"] <= GOAL_TTFT_RATIO and out["tps_ratio_pooled"] >= GOAL_TPS_RATIO
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vigil", default=os.path.join(REPO, "build", "bin", "vigil"))
    ap.add_argument("--checkpoint", default=os.path.join(REPO, "models", "default", "hf"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "python-worker.json"))
    ap.add_argument("--direct-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.direct_child:
        return direct_child(args)
    import run as B
    B.VIGIL_BIN.append(args.vigil)
    facts = B.machine()
    direct = DirectProcess(args.checkpoint, args.threads, args.ctx)
    facts.update(direct.facts)  # the BLAS library and torch version the model computes with
    served = Served(args.vigil, args.checkpoint, args.threads, args.ctx)
    rows = {"direct": [], "vigil": []}
    try:
        work = prompts()
        for name, question, image in work:  # warm-up, not counted
            direct.run(image, question, args.tokens)
            served.run(image, question, args.tokens)
        for r in range(args.rounds):
            for i, (name, question, image) in enumerate(work):
                # alternate which goes first, so neither always follows the other
                order = [("direct", direct), ("vigil", served)][:: 1 if (r + i) % 2 == 0 else -1]
                for key, side in order:
                    row = side.run(image, question, args.tokens)
                    row.update(round=r, image=name, question=question)
                    rows[key].append(row)
            print("round %d: ttft direct %.0f ms, vigil %.0f ms" % (
                r, rows["direct"][-1]["ttft_ms"], rows["vigil"][-1]["ttft_ms"]), file=sys.stderr)
    finally:
        served.stop()
        direct.stop()
    B.machine_end(facts)
    summary = summarize(rows["direct"], rows["vigil"])
    result = {"script": "bench/python_worker.py", "command": " ".join(["bench/python_worker.py"] + sys.argv[1:]),
              "machine": facts, "checkpoint": os.path.relpath(args.checkpoint, REPO),
              "settings": {"rounds": args.rounds, "tokens": args.tokens, "threads": args.threads, "ctx": args.ctx,
                           "prompts": [[n, q] for n, q, _ in prompts()]},
              "goal": {"ttft_ratio_max": GOAL_TTFT_RATIO, "tps_ratio_min": GOAL_TPS_RATIO},
              "summary": summary, "requests": rows}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    s = summary
    print("time to first token: direct %.1f ms, vigil %.1f ms (medians); vigil/direct pooled %.3f, median of pairs %.3f"
          % (s["ttft_ms_median"]["direct"], s["ttft_ms_median"]["vigil"], s["ttft_ratio_pooled"],
             s["ttft_ratio_median_of_pairs"]))
    print("tokens/s: direct %.1f, vigil %.1f (pooled); vigil/direct pooled %.3f, median of pairs %.3f"
          % (s["tokens_per_s_pooled"]["direct"], s["tokens_per_s_pooled"]["vigil"], s["tps_ratio_pooled"],
             s["tps_ratio_median_of_pairs"]))
    print("same text both ways: %s; goal (ttft <= %.2f, tokens/s >= %.2f): %s; wrote %s"
          % (s["same_text"], GOAL_TTFT_RATIO, GOAL_TPS_RATIO, "met" if s["goal_met"] else "NOT met", args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
