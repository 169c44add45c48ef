#!/usr/bin/env python3
"""vigil on a GPU, next to llama-server on the same GPU (issue 7).

    scripts/gpu/run.sh            # on the GPU machine; it calls this file
    python3 bench/gpu.py --vigil PACK/bin/vigil --peer PACK/bin/llama-server --out DIR

Parts (all by default; --only picks some):
  devices     what the workers' ggml sees (`vigil devices`)
  throughput  vigil --workers N vs llama-server -np N, both with every layer on
              the GPU, streamed chat requests (fresh 512 px image + prompt,
              temperature 0, ignore_eos), N = 1, 4, 16 clients, alternating
              A/B rounds; TTFT, tokens/s, ratios vigil/peer per round
  encode      image encode time: vigil's own timing (/analyze timings) and
              llama-server's log line ("slice encoded in N ms"), and each
              server's TTFT for the same image vs a text-only request
  faults      vigil --workers 2 with requests in flight: the busy worker is
              sent SIGSEGV, SIGKILL or SIGSTOP in the middle of decoding on the
              GPU; every request's outcome, the time from the fault to the
              victim request's next token and to the replacement's `loaded`,
              and the GPU's used memory (nvidia-smi, sampled every 100 ms)
              before the fault, during, at its lowest after, and once the
              replacement has loaded
  oom         a context too large for the GPU, and a GPU another process has
              filled: the worker's load fails with out_of_memory, requests get
              503 out_of_memory at once, the slot loads again only every
              --oom-retry seconds (no restart loop), and once the other
              process frees the memory the worker loads and serves

Writes DIR/gpu.json (everything) and prints a summary. Only the standard
library, numpy and PIL (bench/run.py's helpers).
"""
import argparse
import base64
import datetime
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402  (bench/run.py: clients, servers, images, statistics)

PROMPT = "Describe this image."


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- GPU memory

class GpuMemory:
    """GPU 0's used memory in MiB, sampled by `nvidia-smi -lms 100` in the
    background. Without nvidia-smi every reading is None."""

    def __init__(self):
        exe = shutil.which("nvidia-smi") or next(
            (p for p in ("/usr/local/nvidia/bin/nvidia-smi", "/usr/bin/nvidia-smi") if os.path.exists(p)), None)
        self.samples = []  # (perf_counter, used MiB)
        self.total = None
        self.lock = threading.Lock()
        self.proc = None
        if not exe:
            return
        self.proc = subprocess.Popen([exe, "--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits",
                                      "-i", "0", "-lms", "100"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.perf_counter() + 5
        while not self.samples and time.perf_counter() < deadline:
            time.sleep(0.05)

    def _read(self):
        for line in self.proc.stdout:
            try:
                used, total = (float(x) for x in line.strip().split(","))
            except ValueError:
                continue
            with self.lock:
                self.samples.append((time.perf_counter(), used))
                self.total = total

    @property
    def available(self):
        return bool(self.samples)

    def now(self):
        """A reading taken after this call (waits up to 0.5 s for it)."""
        if not self.available:
            return None
        t = time.perf_counter()
        deadline = t + 0.5
        while time.perf_counter() < deadline:
            with self.lock:
                if self.samples[-1][0] > t:
                    return self.samples[-1][1]
            time.sleep(0.02)
        with self.lock:
            return self.samples[-1][1]

    def window(self, t0, t1):
        with self.lock:
            return [(t, v) for t, v in self.samples if t0 <= t <= t1]

    def settle(self, timeout=10.0, quiet=1.0):
        """Waits until the reading has not changed for `quiet` seconds; returns it."""
        if not self.available:
            return None
        t_end = time.perf_counter() + timeout
        while time.perf_counter() < t_end:
            t = time.perf_counter()
            w = self.window(t - quiet, t)
            if len(w) >= 3 and max(v for _, v in w) == min(v for _, v in w):
                return w[-1][1]
            time.sleep(0.1)
        return self.now()

    def stop(self):
        if self.proc:
            self.proc.kill()


# ---------------------------------------------------------------- helpers

def vigil_devices(args):
    out = subprocess.run([args.vigil, "devices"], capture_output=True, text=True, timeout=120)
    return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")], out.stderr[-2000:]


def workers(v):
    return v.workers()["workers"]


def wait_until(pred, timeout, what):
    t_end = time.perf_counter() + timeout
    while time.perf_counter() < t_end:
        x = pred()
        if x:
            return x
        time.sleep(0.01)
    raise RuntimeError("timed out waiting for " + what)


def ready_status(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/ready")
    r = conn.getresponse()
    out = {"status": r.status, "body": r.read().decode(errors="replace")[:500]}
    conn.close()
    return out


def analyze_stream(port, rid, jpeg, max_tokens, rec, fault_t=None):
    """One streamed /analyze request; fills rec with its outcome and the time of
    every text event (perf_counter)."""
    body = json.dumps({"image": base64.b64encode(jpeg).decode(), "prompt": PROMPT, "max_tokens": max_tokens,
                       "temperature": 0, "ignore_eos": True, "stream": True})
    rec.update({"rid": rid, "status": 0, "events": [], "final": None, "t_send": time.perf_counter()})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/analyze", body, {"Content-Type": "application/json", "X-Request-Id": rid})
        resp = conn.getresponse()
        rec["status"] = resp.status
        if resp.status != 200:
            rec["final"] = {"error": resp.read().decode(errors="replace")[:500]}
            return
        for line in resp:
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            ev = json.loads(line[5:])
            if "text" in ev:
                rec["events"].append(time.perf_counter())
            if "done" in ev or "error" in ev:
                rec["final"] = ev
    except (OSError, http.client.HTTPException, ValueError) as e:
        rec["final"] = {"client_error": repr(e)}
    finally:
        conn.close()
        rec["t_end"] = time.perf_counter()


def outcome(rec):
    f = rec.get("final") or {}
    if rec["status"] == 200 and "done" in f:
        return {"rid": rec["rid"], "ok": True, "attempts": f.get("attempts"), "tokens": len(rec["events"])}
    return {"rid": rec["rid"], "ok": False, "status": rec["status"], "error": json.dumps(f)[:300]}


# ---------------------------------------------------------------- parts

def part_throughput(args, model):
    plan = {"requests": lambda c: max(8, 4 * c), "warm": "image"}
    res = {}
    for c in args.clients:
        res[c] = B.throughput_one(args, model, plan, c, c, None, args.rounds)
    return {"per_clients": {str(c): v for c, v in res.items()},
            "ratios": {str(c): v for c, v in B.ratios(res).items()}}


def part_defaults(args, model):
    """Both servers at their defaults (no tuning flag): vigil picks its workers,
    jobs per worker and spare from the GPUs it sees; llama-server its slots."""
    import defaults as D
    clients = [int(x) for x in args.defaults_clients.split(",")]
    res = D.compare(args.vigil, model, clients, args.rounds, lambda c: max(8, 2 * c), gpu=True)
    goals = D.verdicts("gpu", res["by_clients"])
    res["goals"] = goals
    for g in goals:
        log(f"   defaults {g['clients']:>2} clients {g['metric']:8s} {g['goal']:7s} median {g['median_ratio']} "
            f"pooled {g['pooled_ratio']} {'met' if g['met'] else 'NOT MET'}")
    return res


def part_takeover(args, model):
    """A worker holding 8 jobs gets SIGKILL / SIGSEGV mid-decode, with a
    loaded spare (bench/takeover.py)."""
    import takeover as T
    targs = argparse.Namespace(vigil=args.vigil, tokens=args.fault_tokens, gpu=True)
    trials = [T.one_trial(targs, model, sig) for sig in ("KILL", "SEGV")]
    for t in trials:
        log(f"   takeover SIG{t['signal']}: all ok {t['all_ok']} complete {t['all_complete']} "
            f"longest stall median {t['next_token_ms_median']:.1f} ms max {t['next_token_ms_max']:.1f} ms")
    return {"trials": trials, "goal_next_token_ms": T.GOAL_MS,
            "goal_met": all(t["all_ok"] and t["all_complete"] and t["next_token_ms_max"] < T.GOAL_MS
                            for t in trials)}


def part_scale(args, model):
    """Two GPUs: vigil at defaults (one worker per GPU) against vigil at
    defaults on a machine that shows it only the first GPU, tokens/s at 64
    clients."""
    import defaults as D
    gpus = [d for d in vigil_devices(args)[0] if d.get("type") == "gpu"]
    if len(gpus) < 2:
        return {"skipped": f"{len(gpus)} GPU(s) seen"}
    out = {}
    for name, visible in (("one_gpu", "0"), ("all_gpus", None)):
        # What a user with one GPU gets: the backend sees only the first.
        if visible is None:
            os.environ.pop("GGML_VK_VISIBLE_DEVICES", None)
        else:
            os.environ["GGML_VK_VISIBLE_DEVICES"] = visible
        v = D.VigilAtDefaults(args.vigil, model)
        try:
            B.run_load(v.port, [D.body(model, B.fresh_image()) for _ in range(16)], 16)
            recs, wall = B.run_load(v.port, [D.body(model, B.fresh_image()) for _ in range(256)], 64)
            out[name] = {"summary": {k: x for k, x in B.summarize(recs, wall).items() if k not in ("ttft", "e2e")},
                         "chose": v.chosen(), "cmd": v.cmd}
        finally:
            v.stop()
    out["ratio_tok_s"] = out["all_gpus"]["summary"]["tok_s"] / out["one_gpu"]["summary"]["tok_s"]
    out["goal_met"] = out["ratio_tok_s"] >= 1.8
    log(f"   scale: {len(gpus)} GPUs / 1 GPU tokens/s = {out['ratio_tok_s']:.2f}")
    return out


def part_encode(args, model, reps):
    """The image's cost, each server's own timings: vigil's image encode alone,
    and for both the prompt processing (image encode + prefill of the image and
    text tokens: vigil's image_encode_ms + prefill_ms, llama-server's
    timings.prompt_ms, which it reports but does not split); plus each
    server's TTFT for an image + prompt vs a text-only request."""
    out = {}
    v = B.Vigil(args, model, 1)
    try:
        B.run_load(v.port, [B.chat_body(B.fresh_image(), 4)], 1)  # warm: pipelines, buffers
        enc, prompt, ttft_img, ttft_txt = [], [], [], []
        for _ in range(reps):
            # the same non-streamed chat request as the peer's below
            _, data, _ = B.post_json(v.port, "/v1/chat/completions", B.chat_body(B.fresh_image(), 4, stream=False))
            tokens, t = data["usage"]["prompt_tokens"], data["vigil"]["timings"]
            enc.append(t["image_encode_ms"])
            prompt.append(t["image_encode_ms"] + t["prefill_ms"])
            ttft_img.append(B.Client(v.port).chat(B.chat_body(B.fresh_image(), 4))["ttft"])
            ttft_txt.append(B.Client(v.port).chat(B.text_body(4, unique=True))["ttft"])
        out["vigil"] = {"image_encode_ms": B.med_iqr(enc), "prompt_ms": B.med_iqr(prompt), "prompt_tokens": tokens,
                        "ttft_image_s": B.med_iqr(ttft_img), "ttft_text_s": B.med_iqr(ttft_txt), "cmd": v.cmd}
    finally:
        v.stop()
    p = B.Peer(args, model, 1)
    try:
        B.run_load(p.port, [B.chat_body(B.fresh_image(), 4)], 1)
        prompt, ttft_img, ttft_txt = [], [], []
        for _ in range(reps):
            _, data, _ = B.post_json(p.port, "/v1/chat/completions", B.chat_body(B.fresh_image(), 4, stream=False))
            prompt.append(data["timings"]["prompt_ms"])
            tokens = data["timings"]["prompt_n"]
            ttft_img.append(B.Client(p.port).chat(B.chat_body(B.fresh_image(), 4))["ttft"])
            ttft_txt.append(B.Client(p.port).chat(B.text_body(4, unique=True))["ttft"])
        out["peer"] = {"image_encode_ms": None, "prompt_ms": B.med_iqr(prompt), "prompt_tokens": tokens,
                       "ttft_image_s": B.med_iqr(ttft_img), "ttft_text_s": B.med_iqr(ttft_txt), "cmd": p.cmd}
    finally:
        p.stop()
    vp, pp = out["vigil"]["prompt_ms"]["median"], out["peer"]["prompt_ms"]["median"]
    out["prompt_ms_ratio_of_medians"] = vp / pp if vp and pp else None
    return out


def one_fault(args, model, gpu, sig, n_requests, spare=0):
    """vigil --workers 2 [--spare-workers 1], n_requests streamed in flight,
    `sig` to a worker that is decoding on the GPU."""
    res = {"signal": sig, "workers": 2, "spare_workers": spare}
    mem0 = gpu.settle()
    v = B.Vigil(args, model, 2, spare=spare, extra=["--hang-limit", str(args.hang_limit), "--max-attempts", "3"])
    try:
        wait_until(lambda: all(w["state"] == "idle" for w in workers(v)), 120, "idle workers")
        B.run_load(v.port, [B.chat_body(B.fresh_image(), 4) for _ in range(2)], 2)  # warm both
        res["mem_before_vigil_mib"] = mem0
        res["mem_loaded_mib"] = gpu.settle()
        # What the supervisor knows of the GPU, from its workers only.
        res["workers_model_facts"] = [w.get("model") for w in workers(v)]
        _, metrics = B.http_get(v.port, "/metrics")
        res["metrics_device_lines"] = [l for l in metrics.decode().splitlines()
                                       if l.startswith(("vigil_worker_device_memory_bytes", "vigil_worker_gpu_layers"))]
        recs = [dict() for _ in range(n_requests)]
        threads = [threading.Thread(target=analyze_stream,
                                    args=(v.port, f"{sig.lower()}-{i}", B.fresh_image(), args.fault_tokens, recs[i]))
                   for i in range(n_requests)]
        for t in threads:
            t.start()

        def decoding_worker():
            for w in workers(v):
                if w.get("state") == "busy" and w.get("phase") == "decode" and w.get("job"):
                    return w
            return None

        victim = wait_until(decoding_worker, 60, "a worker decoding")
        pid, slot, victim_rid = int(victim["pid"]), victim["slot"], victim["job"]["request_id"]
        res["mem_during_mib"] = gpu.now()
        gone = {}

        def watch_exit():  # the victim's pid leaves /proc when the supervisor reaps it
            while os.path.exists(f"/proc/{pid}") and time.perf_counter() - t_fault < 120:
                time.sleep(0.001)
            gone["t"] = time.perf_counter()

        t_fault = time.perf_counter()
        os.kill(pid, getattr(signal, sig))
        watcher = threading.Thread(target=watch_exit)
        watcher.start()
        # The replacement: a new pid in the victim's slot; when is it loaded?
        seen = {}

        def replacement():
            for w in workers(v):
                if w["slot"] == slot and w.get("pid") and int(w["pid"]) != pid:
                    seen.setdefault("spawned", time.perf_counter())
                    states = seen.setdefault("states", [])
                    if not states or states[-1] != w["state"]:
                        states.append(w["state"])  # in the order seen
                    if w["state"] in ("idle", "busy"):
                        seen["loaded"] = time.perf_counter()
                        seen["load_ms"] = w.get("load_ms")
                        seen["device"] = (w.get("model") or {}).get("device")
                        return True
            return False

        wait_until(replacement, 120, "the replacement worker loaded")
        t_loaded = seen["loaded"]
        res["mem_after_replacement_loaded_mib"] = gpu.settle()
        for t in threads:
            t.join(300)
        watcher.join()
        t_done = time.perf_counter()
        vic = next(r for r in recs if r["rid"] == victim_rid)
        # Text the worker wrote just before the signal can still arrive after
        # it; count from the victim's reaping, so the next token is the retry's.
        after = [e for e in vic["events"] if e > gone["t"]]
        window = gpu.window(t_fault, t_loaded)
        js = v.workers()
        crash = next((c for w in js["workers"] if w["slot"] == slot for c in w["recent_crashes"]), None)
        res.update({
            "victim_pid": pid, "victim_request": victim_rid,
            "outcomes": [outcome(r) for r in recs],
            "all_ok": all(outcome(r)["ok"] for r in recs),
            "victim_attempts": outcome(vic).get("attempts"),
            "others_attempts": sorted({outcome(r).get("attempts") for r in recs if r["rid"] != victim_rid}),
            "fault_to_victim_next_token_s": (after[0] - t_fault) if after else None,
            "fault_to_victim_reaped_s": gone["t"] - t_fault,
            "fault_to_replacement_spawned_s": seen["spawned"] - t_fault,
            "fault_to_replacement_loaded_s": t_loaded - t_fault,
            "replacement_load_ms": seen.get("load_ms"),
            "replacement_states_seen": seen.get("states", []),
            "replacement_device": seen.get("device"),
            "fault_to_all_done_s": t_done - t_fault,
            "mem_lowest_between_fault_and_replacement_mib": min((x for _, x in window), default=None),
            "crash_report": crash,
            "restarts_by_cause": js.get("restarts_by_cause"),
        })
        if after:
            res["fault_to_first_token_measure"] = ("victim request: its first text event after the victim "
                                                   "was reaped (the retry's), timed from the signal")
    finally:
        v.stop()
    res["mem_after_vigil_stopped_mib"] = gpu.settle()
    log(f"   {sig}: all ok {res.get('all_ok')} victim attempts {res.get('victim_attempts')} "
        f"fault->reaped {res.get('fault_to_victim_reaped_s')} s, "
        f"fault->next token {res.get('fault_to_victim_next_token_s')} s, fault->replacement loaded "
        f"{res.get('fault_to_replacement_loaded_s')} s; GPU MiB before {mem0} loaded {res.get('mem_loaded_mib')} "
        f"during {res.get('mem_during_mib')} lowest {res.get('mem_lowest_between_fault_and_replacement_mib')} "
        f"after {res.get('mem_after_replacement_loaded_mib')} stopped {res.get('mem_after_vigil_stopped_mib')}")
    return res


def part_faults(args, model, gpu):
    out = {}
    for sig in ("SIGSEGV", "SIGKILL", "SIGSTOP"):
        log(f"== fault: {sig} to a worker decoding on the GPU, {args.fault_requests} requests in flight")
        out[sig] = one_fault(args, model, gpu, sig, args.fault_requests)
    log("== fault: SIGKILL again, with a loaded spare worker")
    out["SIGKILL+spare"] = one_fault(args, model, gpu, "SIGKILL", args.fault_requests, spare=1)
    return out


def start_unready_vigil(args, model, extra, tag):
    """vigil serve that is not expected to become ready: no wait for /ready."""
    v = B.Vigil.__new__(B.Vigil)
    v.logpath = f"/tmp/vigil-gpu-{tag}-{os.getpid()}.log"
    v.logf = open(v.logpath, "ab")
    v.cmd = [args.vigil, "serve", "--port", "0", "--model", model["text"], "--mmproj", model["mmproj"],
             "--workers", "1", "--log-level", "info", "--oom-retry", str(args.oom_retry), *args.vigil_extra, *extra]
    v.proc = subprocess.Popen(v.cmd, stdout=subprocess.PIPE, stderr=v.logf)
    v.port = int(v.proc.stdout.readline().decode().strip().rsplit(":", 1)[1])
    return v


def analyze_once(port):
    body = {"image": base64.b64encode(B.fresh_image()).decode(), "prompt": PROMPT, "max_tokens": 4}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/analyze", json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    out = {"status": r.status, "x-should-retry": r.getheader("x-should-retry"), "body": json.loads(r.read())}
    conn.close()
    if "error" in out["body"]:
        out["type"] = out["body"]["error"]["type"]
    return out


def held_for_memory(v):
    w = workers(v)[0]
    return w if w["state"] == "held" and "out_of_memory" in (w.get("reason") or "") else None


def part_oom(args, model, gpu):
    """Two ways to run out of GPU memory: a context too large for the card,
    and a card another process has filled (then empties)."""
    res = {}
    log(f"== oom: --ctx {args.oom_ctx} on the GPU")
    r = res["context_too_large"] = {"mem_before_mib": gpu.settle()}
    v = start_unready_vigil(args, model, ["--ctx", str(args.oom_ctx)], "oom-ctx")
    r["cmd"] = v.cmd
    try:
        t0 = time.perf_counter()
        w = wait_until(lambda: held_for_memory(v), 180, "the slot held for memory")
        r["load_failed_after_s"] = time.perf_counter() - t0
        r["request"] = analyze_once(v.port)
        r["ready"] = ready_status(v.port)
        r["slot"] = {k: w.get(k) for k in ("state", "reason", "restarts")}
        r["mem_after_failure_mib"] = gpu.settle()
    finally:
        v.stop()
    log(f"   context too large: HTTP {r['request']['status']} {r['request'].get('type')} after "
        f"{r['load_failed_after_s']:.1f} s; slot {r['slot']['state']}; GPU MiB before {r['mem_before_mib']} "
        f"after {r['mem_after_failure_mib']}")

    log("== oom: a card another process has filled, then frees")
    r = res["card_full"] = {"mem_before_mib": gpu.settle()}
    hog_code = ("import sys, torch; free, total = torch.cuda.mem_get_info(); "
                "x = torch.empty(free - (256 << 20), dtype=torch.uint8, device='cuda'); "
                "print(free, total, flush=True); sys.stdin.read()")
    hog = subprocess.Popen([sys.executable, "-c", hog_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    r["hog_free_total_bytes"] = hog.stdout.readline().strip()
    if not r["hog_free_total_bytes"]:
        raise RuntimeError("the process meant to fill the GPU (python3 + torch) did not start")
    r["mem_with_hog_mib"] = gpu.settle()
    v = start_unready_vigil(args, model, [], "oom-full")
    r["cmd"] = v.cmd
    try:
        w = wait_until(lambda: held_for_memory(v), 180, "the slot held for memory")
        r["request_while_full"] = analyze_once(v.port)
        r["slot_while_full"] = {k: w.get(k) for k in ("state", "reason", "restarts")}
        hog.stdin.close()
        hog.wait(60)
        t_freed = time.perf_counter()
        r["mem_after_hog_exit_mib"] = gpu.settle()
        wait_until(lambda: workers(v)[0]["state"] == "idle", 180, "the worker loaded once memory was free")
        r["freed_to_loaded_s"] = time.perf_counter() - t_freed
        r["request_after_freed"] = analyze_once(v.port)
        r["attempts_before_load"] = len(workers(v)[0]["recent_crashes"])
        r["mem_loaded_mib"] = gpu.settle()
    finally:
        if hog.poll() is None:
            hog.kill()
        v.stop()
    r["mem_after_vigil_stopped_mib"] = gpu.settle()
    log(f"   card full: HTTP {r['request_while_full']['status']} {r['request_while_full'].get('type')}; "
        f"freed -> loaded {r.get('freed_to_loaded_s')} s; then HTTP {r.get('request_after_freed', {}).get('status')}; "
        f"GPU MiB before {r['mem_before_mib']} with hog {r['mem_with_hog_mib']} after hog {r.get('mem_after_hog_exit_mib')} "
        f"loaded {r.get('mem_loaded_mib')} stopped {r['mem_after_vigil_stopped_mib']}")
    return res


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", required=True, help="vigil binary (the pack's wrapper)")
    ap.add_argument("--peer", default="llama-server")
    ap.add_argument("--model-text", required=True)
    ap.add_argument("--model-mmproj", required=True)
    ap.add_argument("--model-name", default="bench")
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--gpu-layers", type=int, default=99)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads per engine, both servers")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--encode-reps", type=int, default=8)
    ap.add_argument("--fault-requests", type=int, default=6)
    ap.add_argument("--fault-tokens", type=int, default=400, help="tokens per request during the fault runs")
    ap.add_argument("--hang-limit", type=float, default=2.0)
    ap.add_argument("--oom-ctx", type=int, default=200_000_000)
    ap.add_argument("--oom-retry", type=float, default=3.0, help="vigil --oom-retry in the oom part")
    ap.add_argument("--defaults-clients", default="1,4,16,64")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    args.clients = [int(x) for x in args.clients.split(",")]
    args.vigil_extra = ["--gpu-layers", str(args.gpu_layers), "--image-cache-mb", "0"]
    args.peer_extra = ["-ngl", str(args.gpu_layers), "--cache-ram", "0"]
    B.VIGIL_BIN.append(args.vigil)
    os.makedirs(args.out, exist_ok=True)
    model = {"name": args.model_name, "text": args.model_text, "mmproj": args.model_mmproj, "ctx": args.ctx,
             "max_tokens": args.max_tokens, "warm": "image"}
    parts = args.only.split(",") if args.only else ["devices", "defaults", "takeover", "scale", "throughput",
                                                    "encode", "faults", "oom"]
    gpu = GpuMemory()
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": B.machine(), "model": model, "threads": args.threads, "gpu_layers": args.gpu_layers,
           "command": "scripts/gpu/run.sh (bench/gpu.py " + " ".join(sys.argv[1:]) + ")",
           "gpu_memory_source": "nvidia-smi -lms 100 (GPU 0 memory.used)" if gpu.available else "none",
           "gpu_memory_total_mib": gpu.total}
    rev = os.environ.get("VIGIL_PACK_REVISION")
    if rev:
        res["machine"]["vigil_rev"] = rev
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        smi = None
    res["gpu"] = smi
    log(f"machine: {res['machine']} gpu: {smi}")

    def save():
        with open(os.path.join(args.out, "gpu.json"), "w") as f:
            json.dump(res, f, indent=1, default=str)

    t_start = time.time()
    for part in parts:
        t = time.time()
        # Every part but `scale` compares on one GPU, whatever the machine has:
        # ggml's Vulkan backend then sees only the first (both servers).
        if part == "scale":
            os.environ.pop("GGML_VK_VISIBLE_DEVICES", None)
        else:
            os.environ["GGML_VK_VISIBLE_DEVICES"] = "0"
        try:
            if part == "devices":
                res["devices"], res["devices_stderr"] = vigil_devices(args)
                log("devices:", res["devices"])
            elif part == "defaults":
                res["defaults"] = part_defaults(args, model)
            elif part == "takeover":
                res["takeover"] = part_takeover(args, model)
            elif part == "scale":
                res["scale"] = part_scale(args, model)
            elif part == "throughput":
                res["throughput"] = part_throughput(args, model)
            elif part == "encode":
                res["encode"] = part_encode(args, model, args.encode_reps)
            elif part == "faults":
                res["faults"] = part_faults(args, model, gpu)
            elif part == "oom":
                res["oom"] = part_oom(args, model, gpu)
        except Exception as e:  # keep the other parts' results
            import traceback
            res.setdefault("errors", {})[part] = traceback.format_exc()
            log(f"part {part} failed: {e!r}")
        res.setdefault("part_seconds", {})[part] = time.time() - t
        save()
    res["duration_s"] = time.time() - t_start
    B.machine_end(res["machine"])
    gpu.stop()
    save()
    print_summary(res)


def print_summary(res):
    print(f"\n# vigil on {res.get('gpu')} ({res['date']}), model {res['model']['name']}")
    tp = res.get("throughput")
    if tp:
        for c, r in tp["ratios"].items():
            a = r["abs"]
            print(f"{c:>2} clients: tok/s vigil {a['vigil']['tok_s']['median']:.0f} peer {a['peer']['tok_s']['median']:.0f} "
                  f"ratio {B.fmt_ratio(r['tok_s'])}; TTFT p50 ratio {B.fmt_ratio(r['ttft_p50'])} "
                  f"(vigil {a['vigil']['ttft_p50']['median']*1000:.1f} ms, peer {a['peer']['ttft_p50']['median']*1000:.1f} ms)")
    enc = res.get("encode")
    if enc:
        for s in ("vigil", "peer"):
            e = enc[s]
            ie = e["image_encode_ms"]["median"] if e.get("image_encode_ms") else None
            print(f"encode {s}: image encode {ie} ms, prompt (encode + prefill) {e['prompt_ms']['median']} ms; TTFT image {e['ttft_image_s']['median']*1000:.1f} ms, "
                  f"text {e['ttft_text_s']['median']*1000:.1f} ms")
    for sig, f in (res.get("faults") or {}).items():
        print(f"{sig}: all ok {f.get('all_ok')}, victim attempts {f.get('victim_attempts')}, others {f.get('others_attempts')}; "
              f"fault->next token {f.get('fault_to_victim_next_token_s')}, ->replacement loaded "
              f"{f.get('fault_to_replacement_loaded_s')}; GPU MiB: before vigil {f.get('mem_before_vigil_mib')}, "
              f"loaded {f.get('mem_loaded_mib')}, during {f.get('mem_during_mib')}, lowest after fault "
              f"{f.get('mem_lowest_between_fault_and_replacement_mib')}, replacement loaded "
              f"{f.get('mem_after_replacement_loaded_mib')}, vigil stopped {f.get('mem_after_vigil_stopped_mib')}")
    o = res.get("oom") or {}
    if "context_too_large" in o:
        c = o["context_too_large"]
        print(f"oom, context too large: HTTP {c['request']['status']} {c['request'].get('type')}, slot "
              f"{c['slot']['state']}; GPU MiB before {c['mem_before_mib']} after {c['mem_after_failure_mib']}")
    if "card_full" in o:
        c = o["card_full"]
        print(f"oom, card full: HTTP {c['request_while_full']['status']} {c['request_while_full'].get('type')}; "
              f"after the other process exits: loaded in {c.get('freed_to_loaded_s')} s, HTTP "
              f"{c.get('request_after_freed', {}).get('status')}; GPU MiB before {c['mem_before_mib']}, full "
              f"{c['mem_with_hog_mib']}, freed {c.get('mem_after_hog_exit_mib')}, loaded {c.get('mem_loaded_mib')}, "
              f"stopped {c['mem_after_vigil_stopped_mib']}")
    for part, tb in (res.get("errors") or {}).items():
        print(f"part {part} FAILED: {tb.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
