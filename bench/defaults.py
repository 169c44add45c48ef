#!/usr/bin/env python3
"""vigil vs llama-server, both at their DEFAULT settings, with goals.

    scripts/env.sh python3 bench/defaults.py                 # tiny model
    scripts/env.sh python3 bench/defaults.py --model bench   # bench-size model
    ... --quick                                              # a smoke run

A user who sets no flag must get vigil's best. This starts
`vigil serve --model M --mmproj P` and `llama-server -m M --mmproj P` with no
tuning flag (the only others: a port, and vigil's log level), drives both with
the same streamed OpenAI chat requests (one image + prompt, temperature 0,
fixed max_tokens, ignore_eos) from closed-loop clients at several
concurrencies, in alternating A/B rounds on fresh images, and prints
vigil/llama-server ratios (median of per-round ratios, and the pooled ratio:
total over total) with each goal of the batching issue marked met or not met.
Writes bench/results/defaults-<model>.json; bench/defaults_report.py renders
docs/benchmarks-defaults.md from it.

Reuses bench/run.py's client, load driver and statistics.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py)

REPO = run.REPO

# Goals of the batching issue at defaults: (metric, bound, higher is better).
GOALS = {
    "tiny": {"rps": (1.0, True), "tok_s": (1.0, True), "ttft_p50": (1.05, False)},
    "bench": {"rps": (1.0, True), "tok_s": (1.0, True), "ttft_p50": (1.03, False), "e2e_p50": (1.03, False)},
    "gpu": {"tok_s": (1.0, True), "ttft_p50": (1.05, False), "e2e_p50": (1.05, False)},  # bench/gpu.py
}


class VigilAtDefaults(run.Server):
    name = "vigil"

    def __init__(self, vigil, model, extra=()):
        self.logpath = f"/tmp/vigil-bench-defaults-vigil-{os.getpid()}.log"
        self.logf = open(self.logpath, "ab")
        self.cmd = [vigil, "serve", "--model", model["text"], "--mmproj", model["mmproj"], "--port", "0",
                    "--log-level", "info", *extra]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self.logf)
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            raise RuntimeError(f"vigil did not start: {line!r}; see {self.logpath}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.wait_ready("/ready")

    def workers(self):
        _, b = run.http_get(self.port, "/v1/workers")
        return json.loads(b)

    def chosen(self):
        """The 'tuning_chosen ...' event vigil logs at start: what its defaults chose."""
        with open(self.logpath, errors="replace") as f:
            lines = [l.strip() for l in f if "tuning_chosen" in l]
        return lines[-1].split("tuning_chosen", 1)[1].strip() if lines else "?"


class PeerAtDefaults(run.Server):
    name = "llama-server"

    def __init__(self, model):
        self.logpath = f"/tmp/vigil-bench-defaults-llama-server-{os.getpid()}.log"
        self.logf = open(self.logpath, "ab")
        self.port = run.free_port()
        self.cmd = ["llama-server", "-m", model["text"], "--mmproj", model["mmproj"], "--host", "127.0.0.1",
                    "--port", str(self.port)]
        self.proc = subprocess.Popen(self.cmd, stdout=self.logf, stderr=self.logf)
        self.wait_ready("/health")

    def chosen(self):
        want = ("n_threads", "n_slots", "n_ctx", "kv_unified")
        with open(self.logpath, errors="replace") as f:
            return " | ".join(l.strip()[-90:] for l in f if any(w in l for w in want))[:600]


def body(model, jpeg):
    return run.chat_body(jpeg, model["max_tokens"])


def rounds_at(vigil, peer, model, c, n_requests, n_rounds):
    servers = {"vigil": vigil, "peer": peer}
    for s in servers.values():  # warm up both: pages, buffers, pipelines
        run.run_load(s.port, [body(model, run.fresh_image()) for _ in range(c)], c)
    rounds = []
    for r in range(n_rounds):
        order = ["vigil", "peer"] if r % 2 == 0 else ["peer", "vigil"]
        imgs = [run.fresh_image() for _ in range(n_requests)]  # same images for both, new each round
        rd = {}
        for name in order:
            recs, wall = run.run_load(servers[name].port, [body(model, j) for j in imgs], c)
            rd[name] = run.summarize(recs, wall)
            run.log(f"   {c:>2} clients round {r} {name:5s}: {rd[name]['rps']:.2f} req/s "
                    f"{rd[name]['tok_s']:.1f} tok/s ttft p50 {rd[name]['ttft_p50'] * 1000:.1f} ms "
                    f"e2e p50 {rd[name]['e2e_p50'] * 1000:.1f} ms ok {rd[name]['ok']}/{rd[name]['n']} "
                    f"{rd[name]['errors'][:1]}")
        rounds.append(rd)
    return rounds


def pooled(rounds, key):
    """Total over total: requests or tokens per second over all rounds; for
    latencies, the ratio of the medians of every request pooled."""
    import numpy as np
    if key in ("rps", "tok_s"):
        num = "ok" if key == "rps" else None
        tot = {}
        for s in ("vigil", "peer"):
            wall = sum(r[s]["wall_s"] for r in rounds)
            amount = sum(r[s]["ok"] if num else sum(r[s]["completion_tokens"]) for r in rounds)
            tot[s] = amount / wall if wall else 0
        return tot["vigil"] / tot["peer"] if tot["peer"] else None
    series = "ttft" if key.startswith("ttft") else "e2e"
    q = 99 if key.endswith("p99") else 50
    v = np.percentile([x for r in rounds for x in r["vigil"][series]], q)
    p = np.percentile([x for r in rounds for x in r["peer"][series]], q)
    return float(v / p) if p else None


def verdicts(model_name, ratios):
    out = []
    for c, r in ratios.items():
        for key, (bound, higher) in GOALS[model_name].items():
            med = r["median"][key]["median"]
            met = med is not None and (med >= bound if higher else med <= bound)
            out.append({"clients": int(c), "metric": key, "goal": (">= " if higher else "<= ") + str(bound),
                        "median_ratio": med, "pooled_ratio": r["pooled"][key], "met": met})
    return out


def tree_pss_kib(pid):
    """PSS of a process and all its descendants, KiB (/proc smaps_rollup)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += run.proc_mem(p)[1] or 0
        todo += run.children(p)
    return total


def peak_pss_under_load(server, model, c, n):
    """Peak PSS of the server's process tree, sampled every 50 ms while c
    clients send n requests."""
    import threading
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_pss_kib(server.proc.pid))
            time.sleep(0.05)
    t = threading.Thread(target=sample)
    t.start()
    run.run_load(server.port, [body(model, run.fresh_image()) for _ in range(n)], c)
    stop.set()
    t.join()
    return peak[0]


def compare(vigil_bin, model, clients, n_rounds, n_requests, memory_clients=4, gpu=False):
    """Both servers at defaults: per concurrency, A/B rounds and ratios; then
    peak PSS with `memory_clients` clients. Returns the result dict."""
    res = {"by_clients": {}}
    v, p = VigilAtDefaults(vigil_bin, model), PeerAtDefaults(model)
    try:
        res["vigil_cmd"], res["peer_cmd"] = v.cmd, p.cmd
        res["vigil_chose"], res["peer_chose"] = v.chosen(), p.chosen()
        run.log(f"vigil chose: {res['vigil_chose']}\nllama-server: {res['peer_chose']}")
        for c in clients:
            n = n_requests(c)
            rounds = rounds_at(v, p, model, c, n, n_rounds)
            rr = {k: run.med_iqr([x["vigil"][k] / x["peer"][k] for x in rounds if x["peer"][k]])
                  for k in ("rps", "tok_s", "ttft_p50", "ttft_p99", "e2e_p50", "e2e_p99")}
            res["by_clients"][str(c)] = {
                "median": rr, "pooled": {k: pooled(rounds, k) for k in rr},
                "abs": {s: {k: run.med_iqr([x[s][k] for x in rounds]) for k in rr} for s in ("vigil", "peer")},
                "errors": {s: sum(x[s]["n"] - x[s]["ok"] for x in rounds) for s in ("vigil", "peer")},
                "prompt_tokens": {s: sorted({t for x in rounds for t in x[s]["prompt_tokens"]})
                                  for s in ("vigil", "peer")},
                "requests_per_round": n, "rounds": rounds}
        if memory_clients and not gpu:
            n = max(8, 2 * memory_clients)
            mem = {"clients": memory_clients,
                   "vigil_pss_kib": peak_pss_under_load(v, model, memory_clients, n),
                   "peer_pss_kib": peak_pss_under_load(p, model, memory_clients, n),
                   "how": "peak PSS of each server's whole process tree (supervisor and workers for vigil), "
                          "sampled every 50 ms under load, both at defaults"}
            mem["ratio"] = mem["vigil_pss_kib"] / mem["peer_pss_kib"] if mem["peer_pss_kib"] else None
            res["memory"] = mem
            run.log(f"memory: vigil {mem['vigil_pss_kib']} KiB, llama-server {mem['peer_pss_kib']} KiB, "
                    f"ratio {mem['ratio']:.2f}")
    finally:
        v.stop()
        p.stop()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["tiny", "bench"], default="tiny")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build", default="build")
    ap.add_argument("--vigil", default="")
    ap.add_argument("--bench-model-dir", default="/tmp/vigil-bench-model")
    ap.add_argument("--tiny-model-dir", default="")
    ap.add_argument("--clients", default="", help="comma list (default: 1,4,16 tiny; 1,4 bench)")
    args = ap.parse_args()
    vigil = args.vigil or os.path.join(REPO, args.build, "bin", "vigil")
    run.VIGIL_BIN.append(vigil)
    model = run.find_model(args)
    model["max_tokens"] = 64 if args.model == "tiny" else 16
    clients = [int(x) for x in args.clients.split(",")] if args.clients else ([1, 4, 16] if args.model == "tiny" else [1, 4])
    n_rounds = (2 if args.quick else 5) if args.model == "tiny" else (1 if args.quick else 2)
    res = {"machine": run.machine(), "model": model, "quick": args.quick,
           "command": "scripts/env.sh python3 bench/defaults.py " + " ".join(sys.argv[1:]), "by_clients": {}}
    run.log(f"machine: {res['machine']}")
    t0 = time.time()
    n_req = (lambda c: 4 * c if args.quick else max(16, 8 * c)) if args.model == "tiny" else (lambda c: max(2, c))
    res.update(compare(vigil, model, clients, n_rounds, n_req))
    res["goals"] = verdicts(args.model, res["by_clients"])
    if res.get("memory"):
        m = res["memory"]
        res["goals"].append({"clients": m["clients"], "metric": "pss", "goal": "<= 1.1",
                             "median_ratio": m["ratio"], "pooled_ratio": m["ratio"],
                             "met": m["ratio"] is not None and m["ratio"] <= 1.1})
    run.machine_end(res["machine"])
    res["duration_s"] = time.time() - t0
    path = os.path.join(REPO, "bench/results", f"defaults-{args.model}{'-quick' if args.quick else ''}.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1, default=str)
    run.log(f"wrote {path}")
    print(f"\n# vigil / llama-server, both at defaults, {args.model} model ({res['machine']['nproc']} cores)")
    print(f"vigil chose: {res['vigil_chose']}")
    print("clients  metric    goal     median ratio  pooled ratio  verdict")
    for g in res["goals"]:
        med = "n/a" if g["median_ratio"] is None else f"{g['median_ratio']:.2f}"
        pool = "n/a" if g["pooled_ratio"] is None else f"{g['pooled_ratio']:.2f}"
        print(f"{g['clients']:>7}  {g['metric']:8s}  {g['goal']:7s}  {med:>12}  {pool:>12}  "
              f"{'met' if g['met'] else 'NOT MET'}")


if __name__ == "__main__":
    main()
