#!/usr/bin/env python3
"""vigil vs llama-server benchmark (issue 6).

    scripts/env.sh python3 bench/run.py                 # tiny model, full run
    scripts/env.sh python3 bench/run.py --model bench   # bench-size model, reduced run
    ... --quick                                         # smoke run (few requests)

Starts `vigil serve` and `llama-server` (llama.cpp-tools, the same libllama)
side by side on 127.0.0.1 with the same model, threads and context, drives
both with the same streamed OpenAI chat requests (one image + prompt,
temperature 0, fixed max_tokens, "ignore_eos": true), alternating A/B
rounds, and prints vigil/peer ratios (median and IQR over rounds). Also
measures recovery after a worker SIGKILL, memory (RSS and PSS), the image
path (24 MP vs 1 MP JPEG) and repeated-image TTFT. Writes
bench/results/<model>.json, PNG plots under docs/img/ and regenerates
docs/benchmarks.md from every results file present.

Only the standard library, numpy and PIL.
"""
import argparse
import base64
import datetime
import io
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import http.client
import urllib.request

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadavg import LoadSampler, read_loadavg  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIGIL_BIN = []  # set in main: the vigil binary in use
PROMPT = "What is in this image?"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- images

_img_counter = [0]


def make_jpeg(w, h, seed, quality=90):
    """A unique, smooth-ish JPEG (so no server cache can hit across requests)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(2, h // 64), max(2, w // 64), 3), dtype=np.uint8)
    img = Image.fromarray(small, "RGB").resize((w, h), Image.BILINEAR)
    # a little per-pixel texture so every image differs everywhere
    d = ImageDraw.Draw(img)
    for _ in range(20):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        d.ellipse([x0, y0, x0 + w // 8, y0 + h // 8], outline=tuple(int(v) for v in rng.integers(0, 256, 3)), width=max(1, w // 200))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def fresh_image(w=512, h=512):
    _img_counter[0] += 1
    return make_jpeg(w, h, 1_000_000 + _img_counter[0])


def data_uri(jpeg):
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def chat_body(jpeg, max_tokens, stream=True):
    return json.dumps({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": data_uri(jpeg)}},
            {"type": "text", "text": PROMPT}]}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": 1,
        "ignore_eos": True,  # llama-server honours it; vigil's chat route ignores unknown fields
        "stream": stream,
        "stream_options": {"include_usage": True},
    }).encode()


# ---------------------------------------------------------------- HTTP client

class Client:
    def __init__(self, port):
        self.port = port
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=900)

    def chat(self, body):
        """One streamed chat request. Returns dict(ok, ttft, e2e, completion, prompt, status, err)."""
        for attempt in range(2):
            if self.conn is None:
                self._connect()
            t0 = time.perf_counter()
            try:
                self.conn.request("POST", "/v1/chat/completions", body,
                                  {"Content-Type": "application/json", "Accept": "text/event-stream"})
                resp = self.conn.getresponse()
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self.conn.close()
                self.conn = None
                if attempt == 0:
                    continue  # a kept-alive connection the server closed
                return {"ok": False, "err": repr(e), "status": 0}
            return self._read(resp, t0)

    def _read(self, resp, t0):
        out = {"ok": False, "status": resp.status, "ttft": None, "completion": None, "prompt": None,
               "pieces": 0, "err": None, "t_send": t0, "t_first": None}
        if resp.status != 200:
            out["err"] = resp.read().decode(errors="replace")[:300]
            out["e2e"] = time.perf_counter() - t0
            if resp.will_close:
                self.conn.close()
                self.conn = None
            return out
        try:
            while True:
                line = resp.readline()
                if not line:
                    break
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                try:
                    ev = json.loads(data)
                except ValueError:
                    continue
                if "error" in ev:
                    out["err"] = json.dumps(ev["error"])[:300]
                for ch in ev.get("choices") or []:
                    c = (ch.get("delta") or {}).get("content")
                    if c:
                        out["pieces"] += 1
                        if out["ttft"] is None:
                            out["t_first"] = time.perf_counter()
                            out["ttft"] = out["t_first"] - t0
                u = ev.get("usage")
                if u:
                    out["completion"] = u.get("completion_tokens")
                    out["prompt"] = u.get("prompt_tokens")
            resp.read()
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            out["err"] = repr(e)
            self.conn.close()
            self.conn = None
        out["e2e"] = time.perf_counter() - t0
        out["ok"] = out["err"] is None and out["ttft"] is not None
        if out["completion"] is None:
            out["completion"] = out["pieces"]
        return out

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def http_get(port, path, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read()


def run_load(port, bodies, concurrency):
    """Send bodies with `concurrency` client threads (each its own keep-alive
    connection). Returns (records, wall seconds)."""
    lock = threading.Lock()
    idx = [0]
    recs = [None] * len(bodies)

    def worker():
        cl = Client(port)
        while True:
            with lock:
                i = idx[0]
                idx[0] += 1
            if i >= len(bodies):
                break
            recs[i] = cl.chat(bodies[i])
        cl.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return recs, time.perf_counter() - t0


def summarize(recs, wall):
    ok = [r for r in recs if r["ok"]]
    ttft = np.array([r["ttft"] for r in ok]) if ok else np.array([np.nan])
    e2e = np.array([r["e2e"] for r in ok]) if ok else np.array([np.nan])
    toks = sum(r["completion"] or 0 for r in ok)
    return {
        "n": len(recs), "ok": len(ok), "wall_s": wall,
        "rps": len(ok) / wall, "tok_s": toks / wall,
        "completion_tokens": [r["completion"] for r in ok],
        "prompt_tokens": sorted({r["prompt"] for r in ok if r["prompt"] is not None}),
        "ttft_p50": float(np.percentile(ttft, 50)), "ttft_p99": float(np.percentile(ttft, 99)),
        "e2e_p50": float(np.percentile(e2e, 50)), "e2e_p99": float(np.percentile(e2e, 99)),
        "ttft": [float(x) for x in ttft], "e2e": [float(x) for x in e2e],
        "errors": [r.get("err") for r in recs if not r["ok"]][:3],
    }


# ---------------------------------------------------------------- servers

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    name = "?"

    def wait_ready(self, path, timeout=300):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.logpath}")
            try:
                st, _ = http_get(self.port, path, timeout=2)
                if st == 200:
                    return
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout}s; see {self.logpath}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


class Vigil(Server):
    name = "vigil"

    def __init__(self, args, model, workers, spare=0, extra=()):
        self.logpath = f"/tmp/vigil-bench-vigil-{os.getpid()}.log"
        self.logf = open(self.logpath, "ab")
        cmd = [args.vigil, "serve", "--port", "0", "--engine", "llama", "--model", model["text"],
               "--mmproj", model["mmproj"], "--workers", str(workers), "--spare-workers", str(spare),
               "--threads", str(args.threads), "--ctx", str(model["ctx"]), "--log-level", "warn",
               "--max-tokens-limit", "4096", "--request-timeout", "900",
               *getattr(args, "vigil_extra", []), *extra]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.logf)
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            raise RuntimeError(f"vigil did not start: {line!r}; see {self.logpath}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.wait_ready("/ready")

    def workers(self):
        _, b = http_get(self.port, "/v1/workers")
        return json.loads(b)


class Peer(Server):
    name = "llama-server"

    def __init__(self, args, model, parallel, threads=None):
        self.logpath = f"/tmp/vigil-bench-llama-server-{os.getpid()}.log"
        self.logf = open(self.logpath, "ab")
        self.port = free_port()
        cmd = [getattr(args, "peer", "llama-server"), "-m", model["text"], "--mmproj", model["mmproj"], "--host", "127.0.0.1",
               "--port", str(self.port), "-np", str(parallel), "-t", str(threads or args.threads),
               "-c", str(model["ctx"] * parallel), "--no-webui", *getattr(args, "peer_extra", [])]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=self.logf)
        self.wait_ready("/health")


# ---------------------------------------------------------------- memory

def proc_mem_detail(pid):
    """RssAnon / RssFile / RssShmem (KiB) from /proc/PID/status."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k = line.split(":")[0]
                if k in ("RssAnon", "RssFile", "RssShmem"):
                    out[k] = int(line.split()[1])
    except OSError:
        pass
    return out


def proc_mem(pid):
    """(RSS KiB, PSS KiB) of one process."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def worker_pids(v):
    js = v.workers()
    pids = []
    for w in js.get("workers", []):
        if w.get("pid"):
            pids.append((int(w["pid"]), w.get("state"), w.get("role") or w.get("kind")))
    return pids, js


# ---------------------------------------------------------------- stats helpers

def med_iqr(xs):
    xs = np.array([x for x in xs if x is not None and np.isfinite(x)])
    if xs.size == 0:
        return {"median": None, "q1": None, "q3": None}
    return {"median": float(np.median(xs)), "q1": float(np.percentile(xs, 25)), "q3": float(np.percentile(xs, 75))}


def fmt_ratio(d, digits=2):
    if d["median"] is None:
        return "n/a"
    return f"{d['median']:.{digits}f} [{d['q1']:.{digits}f}–{d['q3']:.{digits}f}]"


def pooled_ratio(rounds, key):
    """vigil / llama-server over all rounds pooled: each server's completions ("rps") or
    completion tokens (any other key) over its summed wall time, as text ("n/a" if unknown)."""
    rate = {}
    for s in ("vigil", "peer"):
        wall = sum(rd[s]["wall_s"] for rd in rounds)
        n = sum(rd[s]["ok"] if key == "rps" else sum(rd[s]["completion_tokens"]) for rd in rounds)
        rate[s] = n / wall if wall else None
    return f"{rate['vigil'] / rate['peer']:.2f}" if rate["vigil"] and rate["peer"] else "n/a"


# ---------------------------------------------------------------- parts

def throughput(args, model, plan):
    """A/B rounds at each concurrency, parallelism P = concurrency for both servers."""
    results = {}
    for c in plan["concurrency"]:
        results[c] = throughput_one(args, model, plan, c, c, None, plan["rounds"])
    return results


def throughput_one(args, model, plan, c, P, peer_threads, n_rounds):
    if True:
        log(f"== throughput: {c} clients, vigil --workers {P} vs llama-server -np {P}"
            + (f" -t {peer_threads}" if peer_threads else ""))
        v = Vigil(args, model, P)
        p = Peer(args, model, P, threads=peer_threads)
        servers = {"vigil": v, "peer": p}
        try:
            for s in servers.values():  # warm up: load pages, allocate buffers
                run_load(s.port, [chat_body(fresh_image(), model["max_tokens"]) if plan.get("warm") != "text"
                                  else text_body(model["max_tokens"]) for _ in range(c)], c)
            rounds = []
            n = plan["requests"](c)
            for r in range(n_rounds):
                order = ["vigil", "peer"] if r % 2 == 0 else ["peer", "vigil"]
                imgs = [fresh_image() for _ in range(n)]  # the same images for both, new each round
                rd = {}
                for name in order:
                    _img_counter[0] += 0
                    bodies = [chat_body(j, model["max_tokens"]) for j in imgs]
                    recs, wall = run_load(servers[name].port, bodies, c)
                    rd[name] = summarize(recs, wall)
                    log(f"   round {r} {name:5s}: {rd[name]['rps']:.2f} req/s {rd[name]['tok_s']:.1f} tok/s "
                        f"ttft p50 {rd[name]['ttft_p50']*1000:.1f} ms e2e p50 {rd[name]['e2e_p50']*1000:.1f} ms "
                        f"ok {rd[name]['ok']}/{rd[name]['n']} {rd[name]['errors'][:1]}")
                rounds.append(rd)
                # a new image set per round: vigil's image cache and llama-server's
                # prompt cache must not hit (the A/B pair shares images, but each
                # server sees every image once)
            return {"parallel": P, "rounds": rounds, "vigil_cmd": v.cmd, "peer_cmd": p.cmd,
                    "peer_threads": peer_threads or args.threads}
        finally:
            v.stop()
            p.stop()


def ratios(tp):
    out = {}
    for c, r in tp.items():
        rr = r["rounds"]
        q = lambda k: med_iqr([x["vigil"][k] / x["peer"][k] for x in rr if x["peer"][k]])
        out[c] = {k: q(k) for k in ("rps", "tok_s", "ttft_p50", "ttft_p99", "e2e_p50", "e2e_p99")}
        out[c]["abs"] = {s: {k: med_iqr([x[s][k] for x in rr]) for k in
                             ("rps", "tok_s", "ttft_p50", "ttft_p99", "e2e_p50", "e2e_p99")}
                         for s in ("vigil", "peer")}
        out[c]["added_ms_p50"] = med_iqr([(x["vigil"]["e2e_p50"] - x["peer"]["e2e_p50"]) * 1000 for x in rr])
        out[c]["added_ttft_ms_p50"] = med_iqr([(x["vigil"]["ttft_p50"] - x["peer"]["ttft_p50"]) * 1000 for x in rr])
        toks = {s: sorted({t for x in rr for t in x[s]["completion_tokens"]}) for s in ("vigil", "peer")}
        out[c]["completion_tokens_seen"] = toks
        out[c]["prompt_tokens_seen"] = {s: sorted({t for x in rr for t in x[s]["prompt_tokens"]}) for s in ("vigil", "peer")}
        out[c]["errors"] = {s: sum(x[s]["n"] - x[s]["ok"] for x in rr) for s in ("vigil", "peer")}
    return out


def post_json(port, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    t0 = time.perf_counter()
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    e2e = time.perf_counter() - t0
    conn.close()
    return resp.status, json.loads(data), e2e


def overhead(args, model, n):
    """Time outside the engine: client e2e minus the engine phases each server reports
    (vigil /analyze timings: image decode + encode + prefill + decode; llama-server chat
    timings: prompt_ms + predicted_ms), non-streamed, 1 client."""
    log("== overhead: e2e minus the engine's own phases, 1 client, non-streamed")
    out = {}
    v = Vigil(args, model, 1)
    p = Peer(args, model, 1)
    try:
        rows = {"vigil": [], "peer": []}
        for i in range(n + 2):
            jpg = fresh_image()
            vb = json.dumps({"image": data_uri(jpg), "prompt": PROMPT, "max_tokens": model["max_tokens"],
                             "temperature": 0}).encode()
            st, js, e2e = post_json(v.port, "/analyze", vb)
            if st == 200 and i >= 2:
                t = js["timings"]
                eng = t["image_decode_ms"] + t["image_encode_ms"] + t["prefill_ms"] + t["decode_ms"]
                rows["vigil"].append({"e2e_ms": e2e * 1000, "engine_ms": eng, "server_total_ms": t["total_ms"],
                                      "tokens": js["usage"]["completion_tokens"]})
            st, js, e2e = post_json(p.port, "/v1/chat/completions", chat_body(jpg, model["max_tokens"], stream=False))
            if st == 200 and i >= 2:
                t = js.get("timings", {})
                eng = t.get("prompt_ms", 0) + t.get("predicted_ms", 0)
                rows["peer"].append({"e2e_ms": e2e * 1000, "engine_ms": eng, "tokens": js["usage"]["completion_tokens"]})
        for s_ in rows:
            r = rows[s_]
            out[s_] = {"e2e_ms": med_iqr([x["e2e_ms"] for x in r]), "engine_ms": med_iqr([x["engine_ms"] for x in r]),
                       "outside_engine_ms": med_iqr([x["e2e_ms"] - x["engine_ms"] for x in r]), "n": len(r)}
            if s_ == "vigil":
                out[s_]["outside_server_ms"] = med_iqr([x["e2e_ms"] - x["server_total_ms"] for x in r])
            log(f"   {s_}: e2e {out[s_]['e2e_ms']['median']:.2f} ms, engine {out[s_]['engine_ms']['median']:.2f} ms, "
                f"outside {out[s_]['outside_engine_ms']['median']:.2f} ms")
    finally:
        v.stop()
        p.stop()
    return out


def wait_workers(v, n_ready, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        pids, js = worker_pids(v)
        ready = [p for p in pids if p[1] == "idle"]
        if len(ready) >= n_ready:
            return pids, js
        time.sleep(0.02)
    raise RuntimeError(f"workers not back: {js}")


def recovery(args, model, trials, text=False):
    out = {}
    req = (lambda: text_body(model["max_tokens"], unique=True)) if text else (lambda: chat_body(fresh_image(), model["max_tokens"]))
    for spare in (0, 1):
        log(f"== recovery: --workers 1 --spare-workers {spare}")
        v = Vigil(args, model, 1, spare=spare)
        try:
            run_load(v.port, [req()], 1)
            pids, js = wait_workers(v, 1 + spare)
            out_sample_workers = js
            base, rec, details, reload = [], [], [], []
            for t in range(trials):
                pids, js = wait_workers(v, 1 + spare)
                time.sleep(0.3)
                # baseline TTFT with nothing killed
                cl = Client(v.port)
                r0 = cl.chat(req())
                base.append(r0["ttft"])
                pids, js = wait_workers(v, 1 + spare)
                time.sleep(0.3)
                # the worker that takes jobs: the last one that served (jobs_served max)
                ws = [w for w in js["workers"] if w.get("pid") and not w.get("spare")]
                victim = int(ws[0]["pid"])
                body = req()
                before = {int(w["pid"]) for w in js["workers"] if w.get("pid")}
                newpid = {}

                def watch():  # when does a new worker process show up loaded (idle or busy)?
                    while time.perf_counter() - t0 < 600:
                        try:
                            for w in v.workers()["workers"]:
                                if w.get("pid") and int(w["pid"]) not in before and w.get("state") in ("idle", "busy"):
                                    newpid["t"] = time.perf_counter() - t0
                                    newpid["load_ms"] = w.get("load_ms")
                                    return
                        except Exception:
                            pass
                        time.sleep(0.005)
                t0 = time.perf_counter()
                os.kill(victim, signal.SIGKILL)
                wt = threading.Thread(target=watch)
                wt.start()
                r = cl.chat(body)
                wt.join()
                first = (r["t_first"] - t0) if r["t_first"] is not None else None
                rec.append(first)
                reload.append(newpid.get("t"))
                details.append({"victim": victim, "ok": r["ok"], "status": r["status"], "err": r["err"],
                                "kill_to_first_token_s": first, "baseline_ttft_s": r0["ttft"],
                                "kill_to_new_worker_loaded_s": newpid.get("t"), "new_worker_load_ms": newpid.get("load_ms")})
                cl.close()
                log(f"   trial {t}: baseline ttft {r0['ttft']*1000:.1f} ms, kill->first token "
                    f"{(first or float('nan'))*1000:.1f} ms, kill->new worker loaded "
                    f"{(newpid.get('t') or float('nan'))*1000:.1f} ms ok={r['ok']} {r['err'] or ''}")
            out[spare] = {"baseline_ttft": med_iqr(base), "kill_to_first_token": med_iqr(rec),
                          "kill_to_new_worker_loaded": med_iqr(reload),
                          "overhead_over_baseline": med_iqr([a - b for a, b in zip(rec, base) if a and b]),
                          "trials": details, "workers_json": out_sample_workers, "cmd": v.cmd,
                          "request": "text only" if text else "image + text"}
        finally:
            v.stop()
    return out


def warm_body(model):
    return text_body(model["max_tokens"]) if model.get("warm") == "text" else chat_body(fresh_image(), model["max_tokens"])


def text_body(max_tokens, unique=False):
    # unique: a different prompt each time (vigil quarantines an input that was
    # in flight at two worker deaths, even when the kill came from outside)
    _img_counter[0] += 1
    prompt = PROMPT + (f" ({_img_counter[0]})" if unique else "")
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                       "temperature": 0, "ignore_eos": True, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()


def memory(args, model, warm="image"):
    out = {"vigil": {}, "peer": {}}
    for n in (1, 2):
        log(f"== memory: vigil --workers {n}; llama-server -np {n}")
        v = Vigil(args, model, n)
        try:
            run_load(v.port, [chat_body(fresh_image(), model["max_tokens"]) if warm == "image" else
                              text_body(model["max_tokens"]) for _ in range(2 * n)], n)
            time.sleep(0.5)
            pids, js = worker_pids(v)
            sup = proc_mem(v.proc.pid)
            ws = [(p, proc_mem(p)) for p, _, _ in pids]
            kids = children(v.proc.pid)
            out["vigil"][n] = {
                "supervisor": {"pid": v.proc.pid, "rss_kib": sup[0], "pss_kib": sup[1]},
                "workers": [{"pid": p, "rss_kib": m[0], "pss_kib": m[1], **proc_mem_detail(p)} for p, m in ws],
                "total_rss_kib": sup[0] + sum(m[0] for _, m in ws),
                "total_pss_kib": sup[1] + sum(m[1] for _, m in ws),
                "children_of_supervisor": kids,
            }
        finally:
            v.stop()
        p = Peer(args, model, n)
        try:
            run_load(p.port, [chat_body(fresh_image(), model["max_tokens"]) if warm == "image" else
                              text_body(model["max_tokens"]) for _ in range(2 * n)], n)
            time.sleep(0.5)
            m = proc_mem(p.proc.pid)
            out["peer"][n] = {"rss_kib": m[0], "pss_kib": m[1], **proc_mem_detail(p.proc.pid)}
        finally:
            p.stop()
    v1, v2 = out["vigil"][1], out["vigil"][2]
    out["warm_up"] = warm
    out["ratio_rss_2_over_1"] = v2["total_rss_kib"] / v1["total_rss_kib"]
    out["ratio_pss_2_over_1"] = v2["total_pss_kib"] / v1["total_pss_kib"]
    return out


def image_path(args, model, reps, breakdown=False):
    log("== image path: 24 MP vs 1 MP JPEG")
    out = {}
    big = [(6000, 4000), (1224, 816)]
    v = Vigil(args, model, 1)
    p = Peer(args, model, 1)
    try:
        for s in (v, p):
            run_load(s.port, [warm_body(model)], 1)
        rec = {(sname, wh): [] for sname in ("vigil", "peer") for wh in big}
        sizes = {wh: [] for wh in big}
        for r in range(reps):
            for wh in big:
                _img_counter[0] += 1
                jpg = make_jpeg(wh[0], wh[1], 5_000_000 + _img_counter[0])
                sizes[wh].append(len(jpg))
                body = chat_body(jpg, model["max_tokens"])
                order = [("vigil", v), ("peer", p)] if r % 2 == 0 else [("peer", p), ("vigil", v)]
                for sname, s in order:
                    res = Client(s.port).chat(body)
                    if not res["ok"]:
                        log(f"   {sname} {wh}: {res['status']} {res['err']}")
                    rec[(sname, wh)].append(res)
        for sname in ("vigil", "peer"):
            d = {}
            for wh in big:
                rs = [x for x in rec[(sname, wh)] if x["ok"]]
                d[f"{wh[0]}x{wh[1]}"] = {"e2e": med_iqr([x["e2e"] for x in rs]),
                                         "ttft": med_iqr([x["ttft"] for x in rs]), "ok": len(rs),
                                         "n": len(rec[(sname, wh)]),
                                         "errors": [x["err"] for x in rec[(sname, wh)] if not x["ok"]][:2]}
            b, s = d["6000x4000"]["e2e"]["median"], d["1224x816"]["e2e"]["median"]
            d["ratio_24mp_over_1mp"] = (b / s) if b and s else None
            out[sname] = d
        out["jpeg_bytes"] = {f"{w}x{h}": int(np.median(x)) for (w, h), x in sizes.items()}
        if breakdown:  # where vigil's time goes: /analyze timings, same sizes, fresh images
            bd = {}
            for wh in big:
                rows = []
                for r in range(reps):
                    _img_counter[0] += 1
                    jpg = make_jpeg(wh[0], wh[1], 5_000_000 + _img_counter[0])
                    vb = json.dumps({"image": data_uri(jpg), "prompt": PROMPT, "max_tokens": model["max_tokens"],
                                     "temperature": 0}).encode()
                    st, js, e2e = post_json(v.port, "/analyze", vb)
                    if st == 200:
                        rows.append({"e2e_ms": e2e * 1000, **js["timings"]})
                bd[f"{wh[0]}x{wh[1]}"] = {k: med_iqr([x[k] for x in rows]) for k in
                                          ("e2e_ms", "total_ms", "image_decode_ms", "image_encode_ms", "prefill_ms", "decode_ms")}
            out["vigil_breakdown"] = bd
        log(f"   vigil 24MP/1MP {out['vigil']['ratio_24mp_over_1mp']}, peer {out['peer']['ratio_24mp_over_1mp']}")
    finally:
        v.stop()
        p.stop()
    return out


def repeated_image(args, model, reps):
    log("== repeated image: TTFT of the first and the second request on one image")
    out = {}
    v = Vigil(args, model, 1)
    p = Peer(args, model, 1)
    try:
        for s in (v, p):
            run_load(s.port, [warm_body(model)], 1)
        for sname, s in (("vigil", v), ("peer", p)):
            cl = Client(s.port)
            first, second = [], []
            for r in range(reps):
                body = chat_body(fresh_image(), model["max_tokens"])
                a = cl.chat(body)
                b = cl.chat(body)
                first.append(a["ttft"])
                second.append(b["ttft"])
            cl.close()
            out[sname] = {"first_ttft": med_iqr(first), "second_ttft": med_iqr(second),
                          "ratio_first_over_second": med_iqr([a / b for a, b in zip(first, second) if a and b])}
            log(f"   {sname}: first {out[sname]['first_ttft']['median']*1000:.1f} ms, "
                f"second {out[sname]['second_ttft']['median']*1000:.1f} ms")
    finally:
        v.stop()
        p.stop()
    return out


# ---------------------------------------------------------------- machine

_load_sampler = None


def machine():
    """The machine's facts at the start of a run; starts sampling its load (machine_end stops it)."""
    global _load_sampler
    _load_sampler = LoadSampler()
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    try:
        llv = subprocess.run(["llama-server", "--version"], capture_output=True, text=True).stderr.strip().splitlines()
        llv = " ".join(l for l in llv if "version" in l or "built" in l)
    except OSError:
        llv = "?"
    rev = git_rev()
    built = {}
    for b in ("vigil", "vigil-worker"):
        path = os.path.join(os.path.dirname(VIGIL_BIN[0]), b) if VIGIL_BIN else ""
        if path and os.path.exists(path):
            built[b] = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {"vigil_built": built, "nproc": os.cpu_count(), "cpu": cpu, "ram": mem, "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "loadavg_start": open("/proc/loadavg").read().split()[:3], "llama_server": llv, "vigil_rev": rev}


def machine_end(m):
    """Adds the load average at the end and its samples during the run to machine() facts m."""
    m["loadavg_end"] = read_loadavg()
    if _load_sampler:
        m["loadavg_during"] = _load_sampler.stop()


def git_rev():
    """HEAD's commit (read from .git, as the sid root may lack git) and whether src/ differs."""
    try:
        r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "src"], capture_output=True, text=True).stdout.strip()
        return r.stdout.strip() + (" + uncommitted changes in src/" if dirty else "")
    except OSError:
        pass
    try:
        head = open(os.path.join(REPO, ".git/HEAD")).read().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            p = os.path.join(REPO, ".git", ref)
            if os.path.exists(p):
                return open(p).read().strip()[:10] + " (working tree as built; git status not checked)"
            for line in open(os.path.join(REPO, ".git/packed-refs")):
                if line.strip().endswith(ref):
                    return line.split()[0][:10] + " (working tree as built; git status not checked)"
        return head[:10]
    except OSError:
        return "?"


# ---------------------------------------------------------------- main

def find_model(args):
    if args.model == "tiny":
        d = args.tiny_model_dir or os.path.join(REPO, args.build, "models")
        return {"name": "tiny", "text": os.path.join(d, "vigil-tiny-text.gguf"),
                "mmproj": os.path.join(d, "vigil-tiny-mmproj.gguf"), "ctx": 4096, "max_tokens": 32}
    d = args.bench_model_dir
    text, mm = os.path.join(d, "vigil-bench-text.gguf"), os.path.join(d, "vigil-bench-mmproj.gguf")
    if not (os.path.exists(text) and os.path.exists(mm)):
        log(f"generating the bench-size model in {d} (~500 MB, outside the repository)")
        subprocess.run([sys.executable, os.path.join(REPO, "tools/modelgen/make_vlm.py"), "--size", "bench",
                        "--out", d], check=True)
    return {"name": "bench", "text": text, "mmproj": mm, "ctx": 1024, "max_tokens": 16, "warm": "text"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["tiny", "bench"], default="tiny")
    ap.add_argument("--quick", action="store_true", help="a smoke run: few requests and rounds")
    ap.add_argument("--build", default="build-bench", help="build directory (built if missing)")
    ap.add_argument("--bench-model-dir", default="/tmp/vigil-bench-model")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads per engine, both servers (default 1: on a small, loaded machine, ggml's "
                         "spinning thread pools collapse when the CPUs are oversubscribed)")
    ap.add_argument("--only", default="", help="comma list of parts: throughput,overhead,recovery,memory,image,repeat")
    ap.add_argument("--vigil", default="", help="vigil binary (default: BUILD/bin/vigil, built if missing)")
    ap.add_argument("--tiny-model-dir", default="", help="default: BUILD/models")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = ap.parse_args()
    if not args.vigil:
        args.vigil = os.path.join(REPO, args.build, "bin", "vigil")
    if not os.path.exists(args.vigil) or not os.path.exists(os.path.join(os.path.dirname(args.vigil), "vigil-worker")):
        log(f"building vigil in {args.build}")
        subprocess.run([os.path.join(REPO, "scripts/build.sh"), args.build, "-DCMAKE_BUILD_TYPE=Release"], check=True)
    VIGIL_BIN.append(args.vigil)
    model = find_model(args)
    q = args.quick
    if args.model == "tiny":
        plan = {"concurrency": [1, 4, 16], "rounds": 3 if q else 7,
                "requests": (lambda c: 8 * c if q else max(24, 16 * c // 2 * 2) if c > 1 else 24),
                "recovery_trials": 3 if q else 10, "image_reps": 2 if q else 5, "repeat_reps": 3 if q else 8,
                "all_cpu_peer": [4, 16] if not q else [4], "all_cpu_rounds": 3 if not q else 1,
                "overhead_reps": 10 if q else 40}
    else:
        # reduced: one image encode takes 15-20 s of one loaded CPU on a 2-core machine
        # (docs/benchmarks.md)
        plan = {"concurrency": [1] if q else [1, 4], "rounds": 1 if q else 3,
                "requests": (lambda c: 1 if q else (3 if c == 1 else c)),
                "memory_warm": "text", "warm": "text", "recovery_text": True,
                "recovery_trials": 1 if q else 3, "image_reps": 1 if q else 2, "repeat_reps": 1 if q else 2,
                "all_cpu_peer": [], "overhead_reps": 1}
    parts = set(args.only.split(",")) if args.only else {"throughput", "overhead", "recovery", "memory", "image", "repeat"}
    if args.model == "bench" and not args.only:
        parts.discard("overhead")  # the tiny model is where vigil's own time shows
    res = {"machine": machine(), "model": model, "threads": args.threads, "quick": q,
           "command": "scripts/env.sh python3 bench/run.py " + " ".join(sys.argv[1:]),
           "plan": {k: v for k, v in plan.items() if k != "requests"},
           "requests_per_run": {c: plan["requests"](c) for c in plan["concurrency"]}}
    log(f"machine: {res['machine']}")
    t_start = time.time()
    if "throughput" in parts:
        tp = throughput(args, model, plan)
        res["throughput"] = {str(c): v for c, v in tp.items()}
        res["ratios"] = {str(c): v for c, v in ratios(tp).items()}
        if plan.get("all_cpu_peer") and args.threads < os.cpu_count():
            # supplementary: vigil's P one-thread workers can use every CPU,
            # a one-thread llama-server cannot; give the peer all the CPUs too
            tp2 = {c: throughput_one(args, model, plan, c, c, os.cpu_count(), plan["all_cpu_rounds"])
                   for c in plan["all_cpu_peer"]}
            res["throughput_peer_all_cpus"] = {str(c): v for c, v in tp2.items()}
            res["ratios_peer_all_cpus"] = {str(c): v for c, v in ratios(tp2).items()}
    if "overhead" in parts:
        res["overhead"] = overhead(args, model, plan["overhead_reps"])
    if "recovery" in parts:
        res["recovery"] = {str(k): v for k, v in recovery(args, model, plan["recovery_trials"], plan.get("recovery_text", False)).items()}
    if "memory" in parts:
        res["memory"] = memory(args, model, plan.get("memory_warm", "image"))
    if "image" in parts:
        res["image_path"] = image_path(args, model, plan["image_reps"], args.model == "tiny")
    if "repeat" in parts:
        res["repeated_image"] = repeated_image(args, model, plan["repeat_reps"])
    machine_end(res["machine"])
    res["duration_s"] = time.time() - t_start
    os.makedirs(os.path.join(REPO, "bench/results"), exist_ok=True)
    path = os.path.join(REPO, "bench/results", f"{args.model}{'-quick' if q else ''}.json")
    if args.only and os.path.exists(path):  # merge a partial run into the last full one
        old = json.load(open(path))
        old.update({k: v for k, v in res.items() if k not in ("plan", "command", "machine", "duration_s",
                                                              "requests_per_run", "quick", "threads", "model")})
        old.setdefault("partial_reruns", []).append({"command": res["command"], "date": res["machine"]["date"],
                                                     "parts": sorted(parts),
                                                     "loadavg": res["machine"]["loadavg_start"]})
        res = old
    with open(path, "w") as f:
        json.dump(res, f, indent=1, default=str)
    log(f"wrote {path}")
    print_summary(res)
    if not args.no_doc:
        import report
        report.write_doc(REPO)


def print_summary(res):
    print(f"\n# vigil / llama-server on the {res['model']['name']} model")
    if "ratios" in res:
        print("clients  P  req/s ratio          tok/s ratio          TTFT p50 ratio       TTFT p99 ratio       e2e p50 ratio        e2e p99 ratio")
        for c, r in res["ratios"].items():
            P = res["throughput"][c]["parallel"]
            print(f"{c:>7} {P:>2}  " + "  ".join(f"{fmt_ratio(r[k]):20s}" for k in
                                                ("rps", "tok_s", "ttft_p50", "ttft_p99", "e2e_p50", "e2e_p99")))
        r1 = res["ratios"].get("1")
        if r1:
            print(f"vigil's added time per request at 1 client (e2e p50 difference): {fmt_ratio(r1['added_ms_p50'], 2)} ms")
    if "overhead" in res:
        o = res["overhead"]
        print(f"outside the engine (e2e - engine phases, ms): vigil {fmt_ratio(o['vigil']['outside_engine_ms'])}, "
              f"llama-server {fmt_ratio(o['peer']['outside_engine_ms'])}")
    if "recovery" in res:
        for k, v in res["recovery"].items():
            print(f"recovery (spare workers {k}): kill -> first token {fmt_ratio(v['kill_to_first_token'], 3)} s "
                  f"(baseline TTFT {fmt_ratio(v['baseline_ttft'], 3)} s)")
    if "memory" in res:
        m = res["memory"]
        print(f"memory 2 workers / 1 worker: RSS {m['ratio_rss_2_over_1']:.2f}x, PSS {m['ratio_pss_2_over_1']:.2f}x")
    if "image_path" in res:
        ip = res["image_path"]
        print(f"image path 24MP/1MP e2e: vigil {ip['vigil']['ratio_24mp_over_1mp']}, llama-server {ip['peer']['ratio_24mp_over_1mp']}")
    if "repeated_image" in res:
        ri = res["repeated_image"]
        print(f"repeated image TTFT first/second: vigil {fmt_ratio(ri['vigil']['ratio_first_over_second'])}, "
              f"llama-server {fmt_ratio(ri['peer']['ratio_first_over_second'])}")


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
