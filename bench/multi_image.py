#!/usr/bin/env python3
"""Two ~1 MP images against one, end to end (issue 12: "two cost <= 2.1x one").

    scripts/env.sh nice -n 5 python3 bench/multi_image.py [--rounds 5] [--vigil build-x/bin/vigil]

Starts `vigil serve` (one worker) and, unless --no-peer, llama-server (the
same libllama/libmtmd, one slot) on the bench-size model (make_vlm.py
--size bench, written to --bench-model-dir if missing), then for each round
sends, to each server in turn (the order alternates by round), one request
with one fresh 1224x816 JPEG (~1 MP) and one with two fresh ones, the same
question, greedy, max_tokens 16. Every image is new (a seed per image), so no
embedding cache can hit. Times are client-side, request sent to whole answer
read, non-streamed: vigil through /analyze (JSON `images` list: the same
worker path as chat, and it returns vigil's own timings: image decode and
encode, prefill, decode), llama-server through chat completions. Reports,
per server, the median and IQR of each kind, the ratio of medians, and the
median of per-round ratios. Writes bench/results/multi-image-bench.json.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (servers, images, statistics, machine facts)

QUESTION = "Compare the pictures."
SIZE = (1224, 816)  # 0.999 MP, as bench/run.py's image path
MAX_TOKENS = 16


def chat_body(jpegs):
    parts = [{"type": "image_url", "image_url": {"url": run.data_uri(j)}} for j in jpegs]
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": parts + [{"type": "text", "text": QUESTION}]}],
                       "max_tokens": MAX_TOKENS, "temperature": 0, "stream": False}).encode()


def analyze_body(jpegs):
    return json.dumps({"images": [run.data_uri(j) for j in jpegs], "prompt": QUESTION,
                       "max_tokens": MAX_TOKENS, "temperature": 0}).encode()


def fresh(n):
    out = []
    for _ in range(n):
        run._img_counter[0] += 1
        out.append(run.make_jpeg(*SIZE, 7_000_000 + run._img_counter[0]))
    return out


def summary(rows):
    one = [r["e2e_s"] for r in rows if r["images"] == 1 and r["ok"]]
    two = [r["e2e_s"] for r in rows if r["images"] == 2 and r["ok"]]
    paired = [b / a for a, b in zip(one, two)]
    m1, m2 = run.med_iqr(one), run.med_iqr(two)
    return {"one_image_s": m1, "two_images_s": m2,
            "ratio_of_medians": m2["median"] / m1["median"] if m1["median"] and m2["median"] else None,
            "per_round_ratio": run.med_iqr(paired),
            "prompt_tokens": sorted({r["prompt_tokens"] for r in rows if r["ok"]}),
            "completion_tokens": sorted({r["completion_tokens"] for r in rows if r["ok"]}),
            "errors": [r["error"] for r in rows if not r["ok"]][:3]}


def request_once(name, port, jpegs):
    path, body = ("/analyze", analyze_body(jpegs)) if name == "vigil" else ("/v1/chat/completions", chat_body(jpegs))
    status, body, e2e = run.post_json(port, path, body)
    ok = status == 200
    usage = body.get("usage", {}) if ok else {}
    return {"images": len(jpegs), "ok": ok, "e2e_s": e2e, "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"), "timings_ms": body.get("timings") if ok else None,
            "error": None if ok else str(body)[:300]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vigil", default=os.path.join(run.REPO, "build", "bin", "vigil"))
    ap.add_argument("--bench-model-dir", default="/tmp/vigil-bench-model")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="threads per engine, both servers (default 1, as bench/run.py: on a small, loaded "
                         "machine ggml's spinning thread pools collapse when the CPUs are oversubscribed)")
    ap.add_argument("--no-peer", action="store_true", help="vigil only")
    args = ap.parse_args()
    run.VIGIL_BIN.append(args.vigil)
    model = run.find_model(argparse.Namespace(model="bench", bench_model_dir=args.bench_model_dir))
    res = {"script": "bench/multi_image.py",
           "command": "scripts/env.sh python3 bench/multi_image.py " + " ".join(sys.argv[1:]),
           "machine": run.machine(), "model": model, "threads": args.threads, "rounds": args.rounds,
           "image": {"size": f"{SIZE[0]}x{SIZE[1]}", "format": "jpeg", "fresh_per_request": True},
           "max_tokens": MAX_TOKENS, "goal": "vigil two_images_s / one_image_s <= 2.1 (issue 12)"}
    t0 = time.time()
    v = run.Vigil(args, model, 1)
    p = None if args.no_peer else run.Peer(args, model, 1)
    servers = [("vigil", v)] + ([("llama-server", p)] if p else [])
    rows = {name: [] for name, _ in servers}
    try:
        for name, s in servers:  # warm: the first encode allocates the graph
            request_once(name, s.port, fresh(1))
        for r in range(args.rounds):
            order = servers if r % 2 == 0 else servers[::-1]
            for name, s in order:
                for n in ((1, 2) if r % 2 == 0 else (2, 1)):
                    row = request_once(name, s.port, fresh(n))
                    rows[name].append(row)
                    run.log(f"round {r} {name} {n} image(s): {row['e2e_s']:.2f} s "
                            f"prompt_tokens={row['prompt_tokens']} {row['error'] or ''}")
    finally:
        v.stop()
        if p:
            p.stop()
    res["results"] = {name: summary(rs) for name, rs in rows.items()}
    res["rows"] = rows
    timed = [r for r in rows["vigil"] if r["ok"]]
    res["vigil_timings_ms"] = {
        f"{n}_image{'s' if n > 1 else ''}": {k: run.med_iqr([r["timings_ms"][k] for r in timed if r["images"] == n])
                                             for k in ("total_ms", "image_decode_ms", "image_encode_ms",
                                                       "prefill_ms", "decode_ms")}
        for n in (1, 2)}
    vr = res["results"]["vigil"]["ratio_of_medians"]
    res["goal_met"] = vr is not None and vr <= 2.1
    run.machine_end(res["machine"])
    res["duration_s"] = time.time() - t0
    path = os.path.join(run.REPO, "bench/results/multi-image-bench.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1, default=str)
    for name, s in res["results"].items():
        print(f"{name}: one {s['one_image_s']['median']:.2f} s, two {s['two_images_s']['median']:.2f} s, "
              f"ratio of medians {s['ratio_of_medians']:.3f}, per-round {s['per_round_ratio']['median']:.3f} "
              f"[{s['per_round_ratio']['q1']:.3f}-{s['per_round_ratio']['q3']:.3f}]")
    print(f"goal (vigil <= 2.1x): {'met' if res['goal_met'] else 'NOT met'}; load average "
          f"{res['machine']['loadavg_start']} -> {res['machine'].get('loadavg_end')}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
