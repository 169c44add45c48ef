"""Renders bench/results/*.json into docs/benchmarks.md and PNG plots
(docs/img/bench-*.png). PIL only (no matplotlib in the sid root).

    scripts/env.sh python3 bench/report.py     # re-render without re-running
"""
import glob
import json
import math
import os

import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadavg import describe as describe_load  # noqa: E402
from run import pooled_ratio  # noqa: E402

COLORS = {"vigil": (31, 119, 180), "llama-server": (214, 39, 40)}
DASH_COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (140, 86, 75)]


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def _nice_ticks(lo, hi, n=5):
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def plot(path, title, xlabel, ylabel, series, xlog=False, xticks=None, ylo=0.0, markers=True):
    """series: [(label, xs, ys, color, dashed)]"""
    W, H = 900, 520
    L, R, T, B = 90, 210, 56, 70
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    f, fs, ft = _font(15), _font(13), _font(18)
    allx = [x for s in series for x in s[1]]
    ally = [y for s in series for y in s[2] if y is not None and np.isfinite(y)]
    if not allx or not ally:
        return
    tx = (lambda x: math.log10(x)) if xlog else (lambda x: x)
    x0, x1 = min(map(tx, allx)), max(map(tx, allx))
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    pad = (x1 - x0) * 0.05
    x0, x1 = x0 - pad, x1 + pad
    y1 = max(ally) * 1.1
    y0 = ylo if ylo is not None else min(ally)
    yt = _nice_ticks(y0, y1)
    y1 = max(y1, yt[-1])
    px = lambda x: L + (tx(x) - x0) / (x1 - x0) * (W - L - R)
    py = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)
    d.rectangle([L, T, W - R, H - B], outline="black")
    for t in yt:
        if y0 <= t <= y1:
            yy = py(t)
            d.line([L, yy, W - R, yy], fill=(225, 225, 225))
            lab = f"{t:g}"
            d.text((L - 8 - d.textlength(lab, font=fs), yy - 7), lab, fill="black", font=fs)
    if xticks is None:
        xticks = _nice_ticks(min(allx), max(allx)) if not xlog else sorted(set(allx))
    for t in xticks:
        if (x0 <= tx(t) <= x1) if t > 0 or not xlog else False:
            xx = px(t)
            d.line([xx, T, xx, H - B], fill=(235, 235, 235))
            lab = f"{t:g}"
            d.text((xx - d.textlength(lab, font=fs) / 2, H - B + 6), lab, fill="black", font=fs)
    d.text((L + (W - L - R) / 2 - d.textlength(xlabel, font=f) / 2, H - B + 30), xlabel, fill="black", font=f)
    d.text((10, T - 20), ylabel, fill="black", font=f)
    d.text((L + (W - L - R) / 2 - d.textlength(title, font=ft) / 2, 4), title, fill="black", font=ft)
    ly = T + 5
    for label, xs, ys, color, dashed in series:
        pts = [(px(x), py(y)) for x, y in zip(xs, ys) if y is not None and np.isfinite(y)]
        if len(pts) > 1:
            if dashed:  # dashes along the path's length, 9 px on, 6 px off
                cum = 0.0
                for (a, b), (c, e) in zip(pts, pts[1:]):
                    seg = math.hypot(c - a, e - b)
                    n = max(1, int(seg / 1.5))
                    for k in range(n):
                        pos = cum + seg * k / n
                        if pos % 15 < 9:
                            d.line([a + (c - a) * k / n, b + (e - b) * k / n,
                                    a + (c - a) * (k + 1) / n, b + (e - b) * (k + 1) / n], fill=color, width=3)
                    cum += seg
            else:
                d.line(pts, fill=color, width=3)
        if markers:
            for x, y in pts:
                d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=color)
        if dashed:
            for k in range(12, 40, 8):
                d.line([W - R + k, ly + 8, W - R + k + 4, ly + 8], fill=color, width=3)
        else:
            d.line([W - R + 12, ly + 8, W - R + 40, ly + 8], fill=color, width=3)
        d.text((W - R + 46, ly), label, fill="black", font=fs)
        ly += 22
    img.save(path)


def _m(d, scale=1.0, digits=2):
    if not d or d.get("median") is None:
        return "n/a"
    return f"{d['median'] * scale:.{digits}f}"


def _r(d, digits=2):
    if not d or d.get("median") is None:
        return "n/a"
    return f"{d['median']:.{digits}f} [{d['q1']:.{digits}f}–{d['q3']:.{digits}f}]"


def _kib(k):
    return f"{k / 1024:.1f}" if k is not None else "n/a"


def load_note(mc):
    """What the recorded load means for the numbers, from the numbers themselves."""
    loads = [float(x) for x in (mc.get("loadavg_start", [])[:1] + mc.get("loadavg_end", [])[:1])]
    if mc.get("loadavg_during", {}).get("max") is not None:
        loads.append(mc["loadavg_during"]["max"])
    if loads and max(loads) > mc["nproc"]:
        return (f" (above the {mc['nproc']} CPUs: other processes competed for them, so absolute numbers are noisy; "
                f"the ratios come from A/B pairs run back to back)")
    return ""


def threads_cell(res, tp_c, peer_threads=None):
    """What runs at parallelism P: vigil's P processes x T threads against llama-server's 1 process x T threads."""
    P, T = tp_c["parallel"], res["threads"]
    pt = peer_threads or tp_c.get("peer_threads") or T
    return f"{P}×{T} / 1×{pt}"


def text_only_reason(res):
    """Why the recovery request carries no image, with the image request's TTFT this run measured."""
    t = res.get("ratios", {}).get("1", {}).get("abs", {}).get("vigil", {}).get("ttft_p50", {}).get("median")
    took = f" (TTFT p50 {t:.0f} s at 1 client above, nearly all of it the image encode)" if t else ""
    return f", so the image encode{took} does not hide the restart"


def section(res, img_dir, rel_img):
    name = res["model"]["name"]
    mc = res["machine"]
    out = []
    w = out.append
    w(f"## {name} model{' (quick run)' if res.get('quick') else ''}\n")
    w(f"- command: `{res['command']}` ({res.get('duration_s', 0) / 60:.1f} min)")
    for pr in res.get("partial_reruns", []):
        w(f"- parts re-run later ({', '.join(pr['parts'])}): `{pr['command']}` at {pr['date']}, load average "
          f"{' '.join(pr['loadavg'])}")
    built = ", ".join(f"{k} {v}" for k, v in mc.get("vigil_built", {}).items())
    w(f"- date: {mc['date']}; vigil: HEAD {mc['vigil_rev']}" + (f"; binaries built {built}" if built else "")
      + f"; peer: {mc['llama_server']}")
    if mc.get("build_note"):
        w(f"- {mc['build_note']}")
    w(f"- machine: {mc['nproc']} CPUs ({mc['cpu']}), {mc['ram']} RAM, Linux {mc['kernel']}; load average "
      f"{' '.join(mc['loadavg_start'])} at the start, {' '.join(mc.get('loadavg_end', ['?']))} at the end"
      + (f"; {describe_load(mc['loadavg_during'])}" if mc.get("loadavg_during") else "") + load_note(mc))
    m = res["model"]
    w(f"- model: `{os.path.basename(m['text'])}` + `{os.path.basename(m['mmproj'])}`, context {m['ctx']} tokens per "
      f"sequence, max_tokens {m['max_tokens']}, temperature 0, {res['threads']} thread(s) per engine")
    if "throughput" in res:
        w(f"- requests per server per round: " + ", ".join(f"{c} clients: {n}" for c, n in res['requests_per_run'].items())
          + f"; {res['plan']['rounds']} rounds, order alternating (vigil first in even rounds)")
    w("")
    if "ratios" in res:
        tp, ra = res["throughput"], res["ratios"]
        w("### Throughput and latency (ratio = vigil / llama-server)\n")
        w(THREADS_LEGEND)
        w("| clients | parallelism P | engine threads, vigil / llama-server | vigil req/s | llama-server req/s | "
          "req/s ratio, median [IQR] of rounds | req/s ratio, pooled | vigil tok/s | llama-server tok/s | "
          "tok/s ratio, median [IQR] of rounds | tok/s ratio, pooled |")
        w("|---:|---:|---|---:|---:|---|---:|---:|---:|---|---:|")
        for c, r in ra.items():
            a = r["abs"]
            w(f"| {c} | {tp[c]['parallel']} | {threads_cell(res, tp[c])} | {_m(a['vigil']['rps'])} | "
              f"{_m(a['peer']['rps'])} | {_r(r['rps'])} | {pooled_ratio(tp[c]['rounds'], 'rps')} | "
              f"{_m(a['vigil']['tok_s'], 1, 1)} | {_m(a['peer']['tok_s'], 1, 1)} | {_r(r['tok_s'])} | "
              f"{pooled_ratio(tp[c]['rounds'], 'tok_s')} |")
        w("")
        w("Latency ratios below are medians [IQR] of per-round ratios.\n")
        w("| clients | vigil TTFT p50 ms | peer TTFT p50 ms | TTFT p50 ratio | TTFT p99 ratio | vigil e2e p50 ms | peer e2e p50 ms | e2e p50 ratio | e2e p99 ratio |")
        w("|---:|---:|---:|---|---|---:|---:|---|---|")
        for c, r in ra.items():
            a = r["abs"]
            w(f"| {c} | {_m(a['vigil']['ttft_p50'], 1000, 1)} | {_m(a['peer']['ttft_p50'], 1000, 1)} | {_r(r['ttft_p50'])} | "
              f"{_r(r['ttft_p99'])} | {_m(a['vigil']['e2e_p50'], 1000, 1)} | {_m(a['peer']['e2e_p50'], 1000, 1)} | "
              f"{_r(r['e2e_p50'])} | {_r(r['e2e_p99'])} |")
        w("")
        if "1" in ra:
            w(f"vigil's added time per request at 1 client (vigil e2e p50 − llama-server e2e p50, per round): "
              f"**{_r(ra['1']['added_ms_p50'], 2)} ms**; on TTFT p50: {_r(ra['1']['added_ttft_ms_p50'], 2)} ms.\n")
        toks = "; ".join(f"{c} clients: vigil {r['completion_tokens_seen']['vigil']}, peer {r['completion_tokens_seen']['peer']}"
                         for c, r in ra.items())
        ptoks = "; ".join(f"vigil {r['prompt_tokens_seen']['vigil']}, peer {r['prompt_tokens_seen']['peer']}"
                          for c, r in list(ra.items())[:1])
        errs = "; ".join(f"{c} clients: vigil {r['errors']['vigil']}, peer {r['errors']['peer']}" for c, r in ra.items())
        w(f"Completion lengths seen: {toks}. Prompt tokens: {ptoks}. Failed requests: {errs}.\n")
        # plots
        cs = [int(c) for c in ra]
        fn = f"bench-{name}-throughput.png"
        plot(os.path.join(img_dir, fn), f"{name} model: throughput vs concurrency (P = clients)", "concurrent clients",
             "requests/s (median over rounds)",
             [("vigil", cs, [ra[str(c)]["abs"]["vigil"]["rps"]["median"] for c in cs], COLORS["vigil"], False),
              ("llama-server", cs, [ra[str(c)]["abs"]["peer"]["rps"]["median"] for c in cs], COLORS["llama-server"], False)],
             xlog=True, xticks=cs)
        w(f"![throughput]({rel_img}/{fn})\n")
        fn = f"bench-{name}-latency.png"
        series = []
        for i, c in enumerate(cs):
            for s, lab, dashed in (("vigil", "vigil", False), ("peer", "llama-server", True)):
                xs = sorted(x * 1000 for rd in tp[str(c)]["rounds"] for x in rd[s]["e2e"])
                if not xs:
                    continue
                ys = [(k + 1) / len(xs) for k in range(len(xs))]
                series.append((f"{lab} {c} cl.", xs, ys, DASH_COLORS[i % len(DASH_COLORS)], dashed))
        plot(os.path.join(img_dir, fn), f"{name} model: end-to-end latency CDF (all rounds)", "latency, ms",
             "fraction of requests", series, markers=False)
        w(f"![latency distribution]({rel_img}/{fn})\n")
    if "ratios_peer_all_cpus" in res:
        tp2, ra2 = res["throughput_peer_all_cpus"], res["ratios_peer_all_cpus"]
        w("### Supplement: llama-server given every CPU\n")
        w(f"vigil's P one-thread workers can run on all {res['machine']['nproc']} CPUs while a one-thread llama-server "
          f"uses one, so here llama-server runs with `-t {res['machine']['nproc']}` (vigil unchanged, `--threads "
          f"{res['threads']}` per worker).\n")
        w("| clients | P | engine threads, vigil / llama-server | vigil req/s | llama-server req/s | "
          "req/s ratio, median [IQR] of rounds | req/s ratio, pooled | tok/s ratio | TTFT p50 ratio | e2e p50 ratio | "
          "e2e p99 ratio |")
        w("|---:|---:|---|---:|---:|---|---:|---|---|---|---|")
        for c, r in ra2.items():
            a = r["abs"]
            w(f"| {c} | {tp2[c]['parallel']} | {threads_cell(res, tp2[c])} | {_m(a['vigil']['rps'])} | "
              f"{_m(a['peer']['rps'])} | {_r(r['rps'])} | {pooled_ratio(tp2[c]['rounds'], 'rps')} | {_r(r['tok_s'])} | "
              f"{_r(r['ttft_p50'])} | {_r(r['e2e_p50'])} | {_r(r['e2e_p99'])} |")
        w("")
    if "overhead" in res:
        o = res["overhead"]
        w("### Time outside the engine (1 client, non-streamed, fresh image each request)\n")
        w("vigil: `POST /analyze` (JSON, base64 image); engine = the worker's reported image decode + image encode + "
          "prefill + decode; llama-server: the chat route, engine = its `timings.prompt_ms + predicted_ms` (which do "
          "not include its image decode/preprocessing, so its 'outside' holds that too).\n")
        w("| server | e2e ms | engine ms | e2e − engine ms | e2e − server's own total ms |")
        w("|---|---:|---:|---:|---:|")
        w(f"| vigil | {_r(o['vigil']['e2e_ms'])} | {_r(o['vigil']['engine_ms'])} | {_r(o['vigil']['outside_engine_ms'])} | "
          f"{_r(o['vigil'].get('outside_server_ms'))} |")
        w(f"| llama-server | {_r(o['peer']['e2e_ms'])} | {_r(o['peer']['engine_ms'])} | {_r(o['peer']['outside_engine_ms'])} | |")
        w("")
    if "recovery" in res:
        w("### Recovery: SIGKILL of the busy-able worker → next request's first token\n")
        kind = next(iter(res["recovery"].values())).get("request", "image + text")
        w(f"The worker that takes jobs (pid from `/v1/workers`, not the spare) gets SIGKILL, then a streamed request "
          f"({kind}{text_only_reason(res) if kind == 'text only' else ', fresh image'}) "
          f"is sent at once; the time runs from the kill to that request's first content token. Baseline: the same "
          f"kind of request's TTFT with nothing killed, just before. 'New worker loaded': kill → a new worker pid "
          f"shows as idle or busy in `/v1/workers` (polled every 5 ms).\n")
        ms = lambda d: {kk: (vv * 1000 if vv is not None else None) for kk, vv in d.items()}
        w("| config | kill → first token, ms | baseline TTFT, ms | kill → new worker loaded, ms | trials ok |")
        w("|---|---:|---:|---:|---:|")
        for k, v in res["recovery"].items():
            ok = sum(1 for t in v["trials"] if t["ok"])
            w(f"| `--workers 1 --spare-workers {k}` | {_r(ms(v['kill_to_first_token']), 1)} | "
              f"{_r(ms(v['baseline_ttft']), 1)} | {_r(ms(v.get('kill_to_new_worker_loaded', {})), 1)} | {ok}/{len(v['trials'])} |")
        w("")
    if "memory" in res:
        me = res["memory"]
        w(f"### Memory (after {'a few image requests' if me.get('warm_up', 'image') == 'image' else 'a few text-only requests (no image encode, to save time)'}; KiB from /proc/PID/status VmRSS and /proc/PID/smaps_rollup Pss, shown in MiB)\n")
        w("| service | supervisor RSS / PSS | each worker RSS / PSS | whole service RSS | whole service PSS |")
        w("|---|---|---|---:|---:|")
        for n in ("1", "2"):
            v = me["vigil"][n]
            ws = ", ".join(f"{_kib(x['rss_kib'])} / {_kib(x['pss_kib'])}" for x in v["workers"])
            w(f"| vigil `--workers {n}` | {_kib(v['supervisor']['rss_kib'])} / {_kib(v['supervisor']['pss_kib'])} | {ws} | "
              f"{_kib(v['total_rss_kib'])} | {_kib(v['total_pss_kib'])} |")
        for n in ("1", "2"):
            p = me["peer"][n]
            w(f"| llama-server `-np {n}` (one process) | | | {_kib(p['rss_kib'])} | {_kib(p['pss_kib'])} |")
        wk = me["vigil"]["1"]["workers"][0]
        if "RssAnon" in wk:
            w(f"\nOne worker's resident memory by kind (`--workers 1`): anonymous {_kib(wk['RssAnon'])} MiB, file-backed "
              f"{_kib(wk['RssFile'])} MiB (the mmapped text-model weights, shareable), shmem {_kib(wk.get('RssShmem'))} MiB; "
              f"llama-server `-np 1`: anonymous {_kib(me['peer']['1'].get('RssAnon'))} MiB, file-backed "
              f"{_kib(me['peer']['1'].get('RssFile'))} MiB.")
        w(f"\nvigil, 2 workers / 1 worker: **RSS {me['ratio_rss_2_over_1']:.2f}×, PSS {me['ratio_pss_2_over_1']:.2f}×** "
          f"(RSS counts shared file pages of the mmapped weights once per process; PSS splits them between the processes "
          f"that map them, so the PSS sum is the service's real footprint).\n")
    if "image_path" in res:
        ip = res["image_path"]
        w("### Image path: 24 MP vs 1 MP JPEG, end to end (1 client, fresh image each request)\n")
        w(f"JPEG sizes (median): " + ", ".join(f"{k}: {v / 1e6:.2f} MB" for k, v in ip["jpeg_bytes"].items()) + "\n")
        w("| server | 1224×816 (1 MP) e2e ms | 6000×4000 (24 MP) e2e ms | 24 MP / 1 MP |")
        w("|---|---:|---:|---:|")
        for s, lab in (("vigil", "vigil"), ("peer", "llama-server")):
            d = ip[s]
            rr = d["ratio_24mp_over_1mp"]
            w(f"| {lab} | {_m(d['1224x816']['e2e'], 1000, 1)} | {_m(d['6000x4000']['e2e'], 1000, 1)} | "
              f"{rr:.2f} |" if rr else f"| {lab} | n/a | n/a | n/a |")
        w("")
        if "vigil_breakdown" in ip:
            bd = ip["vigil_breakdown"]
            w("Where vigil's time goes (`POST /analyze`, non-streamed, its reported timings; medians, ms):\n")
            w("| image | client e2e | server total | image decode | image encode | prefill | decode |")
            w("|---|---:|---:|---:|---:|---:|---:|")
            for k, d in bd.items():
                w(f"| {k} | " + " | ".join(_m(d[x], 1, 1) for x in ("e2e_ms", "total_ms", "image_decode_ms",
                                                                  "image_encode_ms", "prefill_ms", "decode_ms")) + " |")
            w("")
    if "repeated_image" in res:
        ri = res["repeated_image"]
        w("### Repeated image: TTFT of the first and second request with the same image (1 client)\n")
        w("| server | first TTFT ms | second TTFT ms | first / second |")
        w("|---|---:|---:|---|")
        for s, lab in (("vigil", "vigil"), ("peer", "llama-server")):
            d = ri[s]
            w(f"| {lab} | {_m(d['first_ttft'], 1000, 1)} | {_m(d['second_ttft'], 1000, 1)} | {_r(d['ratio_first_over_second'])} |")
        w("\n(llama-server's second request reuses the whole cached prompt of its slot, image included; vigil's worker "
          "re-runs the prompt but may find the image's embeddings in its cache.)\n")
    return "\n".join(out)


def goals(results):
    """The goal table of issue 6, from the results at hand."""
    rows = []
    t, b = results.get("tiny"), results.get("bench")

    def ok(x):
        return "met" if x else "**not met**"
    for name, res in (("tiny", t), ("bench", b)):
        if not res or "ratios" not in res:
            continue
        for c, r in res["ratios"].items():
            tp_c = res["throughput"][c]
            for k, lab in (("rps", "req/s"), ("tok_s", "tok/s")):
                med = r[k]["median"]
                if med is not None:
                    rows.append((f"throughput {lab} ≥ 1.0× at {c} clients ({name}; engine threads vigil / "
                                 f"llama-server {threads_cell(res, tp_c)})",
                                 f"{med:.2f}× (pooled {pooled_ratio(tp_c['rounds'], k)}×)", ok(med >= 1.0)))
    if b and "ratios" in b and "1" in b["ratios"]:
        r = b["ratios"]["1"]
        for k, lab in (("ttft_p50", "TTFT p50"), ("e2e_p50", "p50 latency")):
            med = r[k]["median"]
            rows.append((f"{lab} within 3% at 1 client (bench)", f"{med:.3f}×", ok(med <= 1.03)))
    if t and "ratios" in t and "1" in t["ratios"]:
        a = t["ratios"]["1"]["added_ms_p50"]["median"]
        rows.append(("vigil's added time per request < 1 ms (tiny, 1 client): e2e p50 vigil − llama-server", f"{a:.2f} ms", ok(a < 1.0)))
    if t and "overhead" in t:
        a = t["overhead"]["vigil"]["outside_engine_ms"]["median"]
        rows.append(("vigil's added time per request < 1 ms (tiny, 1 client): e2e − engine phases, /analyze",
                     f"{a:.2f} ms", ok(a < 1.0)))
    for name, res in (("tiny", t), ("bench", b)):
        if res and "memory" in res:
            m = res["memory"]
            rows.append((f"2 workers ≤ 1.3× memory of 1 ({name}; PSS / RSS)",
                         f"{m['ratio_pss_2_over_1']:.2f}× / {m['ratio_rss_2_over_1']:.2f}×", ok(m["ratio_pss_2_over_1"] <= 1.3)
                         + (" (PSS), " + ok(m["ratio_rss_2_over_1"] <= 1.3) + " (RSS)")))
    for name, res in (("bench", b), ("tiny", t)):
        if res and "recovery" in res:
            r0 = res["recovery"]["0"]["kill_to_first_token"]["median"]
            r1 = res["recovery"]["1"]["kill_to_first_token"]["median"]
            if name == "bench" and r0 is not None:
                rows.append(("kill → first token < 1 s, no spare (bench, warm page cache)", f"{r0 * 1000:.0f} ms", ok(r0 < 1.0)))
            if r1 is not None:
                rows.append((f"kill → first token < 50 ms with a spare ({name})", f"{r1 * 1000:.0f} ms", ok(r1 < 0.05)))
    for name, res in (("tiny", t), ("bench", b)):
        if res and "image_path" in res and res["image_path"]["vigil"]["ratio_24mp_over_1mp"]:
            x = res["image_path"]["vigil"]["ratio_24mp_over_1mp"]
            rows.append((f"24 MP JPEG ≤ 1.2× a 1 MP one end to end ({name})", f"{x:.2f}×", ok(x <= 1.2)))
    for name, res in (("tiny", t), ("bench", b)):
        if res and "repeated_image" in res:
            x = res["repeated_image"]["vigil"]["ratio_first_over_second"]["median"]
            if x:
                rows.append((f"repeated image: second TTFT ≥ 2× faster ({name})", f"{x:.2f}×", ok(x >= 2.0)))
    return rows


HEADER = """# Benchmarks: vigil vs llama-server (issue 6)

Both servers at their **defaults** (what a user who sets no flag gets,
batched workers, takeover after a crash, on CPU and GPU): docs/defaults.md,
made by bench/defaults.py, bench/takeover.py and bench/gpu.py. The tables
below compare tuned settings (`--workers N --threads 1` against
`-np N -t 1`) from an earlier run, with one job per worker.

Generated by `bench/run.py` (tables and plots are rewritten on every run from
`bench/results/*.json`; `scripts/env.sh python3 bench/report.py` re-renders
them). Run it from the repository root:

    scripts/env.sh python3 bench/run.py                  # tiny model, full run (~5 min on 2 CPUs)
    scripts/env.sh python3 bench/run.py --model bench    # bench-size model, reduced run (~17 min; generates it in /tmp)
    scripts/env.sh python3 bench/run.py --quick          # smoke run; --only throughput,overhead,recovery,memory,image,repeat

It builds vigil into `build-bench/` (Release) if `build-bench/bin/vigil` is
missing. Only numbers measured by that program appear below. These runs are
on CPUs; the same comparison on a GPU (H200), with faults, is docs/gpu.md.

## What is compared

- **The peer**: `llama-server` from Debian sid's `llama.cpp-tools` (the same
  libllama/libmtmd build vigil's worker links), on 127.0.0.1, `-np P -t T
  -c CTX×P --no-webui`, everything else default (continuous batching, unified
  KV cache, prompt cache on).
- **vigil**: `vigil serve --port 0 --engine llama --workers P --threads T
  --ctx CTX`. T = 1 for both servers unless `--threads` says otherwise (see
  the notes below); CTX = 4096 (tiny) or 1024 (bench-size). A vigil worker runs one job at a time in its own llama context,
  so **vigil with P workers = P processes, P model contexts, P×T engine
  threads**, while llama-server with P slots = one process, one context
  decoding up to P sequences per batch with T threads. Both are "P requests
  in flight"; that is the parallelism the ratios compare (P = number of
  clients). On a 2-CPU machine, vigil's P×T threads oversubscribe the CPUs
  for P > 1; that is part of what is measured.
- **Requests**: the OpenAI route `POST /v1/chat/completions`, streamed
  (`stream_options.include_usage`), one user message = one JPEG as a
  `data:` URI (512×512, a new image for every request, so neither vigil's
  image-embedding cache nor llama-server's prompt cache can hit) + the text
  "What is in this image?", `max_tokens` fixed, `temperature: 0`,
  `"ignore_eos": true`. The tables list the completion lengths each server
  actually returned, so a run where one server stopped early shows it.
- **Timing**: client-side, Python `http.client` threads, one keep-alive
  connection per client. TTFT = request sent → first non-empty content
  delta; e2e = request sent → `[DONE]`. req/s and tok/s = completed requests
  (completion tokens) / wall time of the run. Each round runs the same image
  set through vigil then llama-server (order swapped every other round); the
  ratio is taken per round, and the tables give the median and IQR of those
  per-round ratios; the throughput tables also give the pooled ratio (each
  server's completions over its wall time, summed over all rounds).
"""

THREADS_LEGEND = (
    "Engine threads: vigil's P worker processes × T threads each / llama-server's one process × T threads. "
    "Where P×T exceeds T, vigil's workers can use more CPUs than llama-server at the same parallelism: "
    "on this machine's CPUs, the rows with P > 1 compare more cores against fewer.\n")


def storm_section(repo):
    """The fault storm of bench/storm.py, from bench/results/storm-*.json."""
    out = []
    for path in sorted(glob.glob(os.path.join(repo, "bench/results/storm-*.json"))):
        r = json.load(open(path))
        rel = os.path.relpath(path, repo)
        mc = r.get("machine", {})
        load = describe_load(mc.get("loadavg_during"))
        out.append(
            f"`{r.get('command', 'bench/storm.py')}` (result: `{rel}`{', ' + mc['date'] if mc.get('date') else ''}): "
            f"`vigil serve --engine {r['engine']} --workers {r.get('workers', 2)}`, {r['clients']} clients; every "
            f"{r['period_s']:g} s for {r['storm_s']:g} s a random live worker gets SIGKILL, SIGSEGV, SIGABRT or "
            f"SIGSTOP ({r['signals_sent']} signals)"
            + (f", on {mc['nproc']} CPUs" if mc.get("nproc") else "") + (f" ({load})" if load else "") + ". "
            f"**{r['served_during_storm']:,} of {r['requests_during_storm']:,} requests sent during the storm "
            f"answered 200 ({r['fraction_served_during_storm'] * 100:.1f}%)**; outcomes during the storm: "
            + ", ".join(f"{k}: {v:,}" for k, v in r["outcomes_during_storm"].items())
            + f"; slots held: {r['slots_held']}; **/ready 200 again {r['ready_again_after_s']} s after the storm**.")
    if not out:
        return ""
    return "\n".join(["## Fault storms (issue 13)\n", *out, "",
                      "The restart policy tells crashes at load from crashes in service (docs/architecture.md, "
                      "\"Restarts\"), so a storm of crashes in service does not hold the slots. The in-process "
                      "storm of tests/fault/storm_test.cc (a signal every 25 ms for 3 s, 2 workers) asserts that "
                      "every job gets exactly one answer, none of them `not_ready`, some are served, no slot is "
                      "held, the pool is ready again within 10 s, and a job after the storm is served.\n"])


def write_doc(repo):
    results = {}
    for p in sorted(glob.glob(os.path.join(repo, "bench/results/*.json"))):
        if os.path.basename(p).startswith(("gpu-", "defaults-", "takeover-", "storm-")):
            continue  # other programs' results: docs/gpu.md, docs/defaults.md, docs/benchmarks.md's storm section
        r = json.load(open(p))
        if not isinstance(r.get("model"), dict) or "name" not in r["model"] or "command" not in r:
            continue  # not bench/run.py's (model-*.json: tools/train, first-demo.json: bench/first_demo.py)
        key = r["model"]["name"] + ("-quick" if r.get("quick") else "")
        results[key] = r
    # prefer full runs; a quick run is shown only when no full run exists
    chosen = {}
    for name in ("tiny", "bench"):
        if name in results:
            chosen[name] = results[name]
        elif name + "-quick" in results:
            chosen[name] = results[name + "-quick"]
    img_dir = os.path.join(repo, "docs/img")
    os.makedirs(img_dir, exist_ok=True)
    parts = [HEADER]
    rows = goals(chosen)
    if rows:
        parts.append("## Goals of issue 6 (latest results)\n")
        parts.append("Measured ratios are medians of per-round ratios (the throughput rows give the pooled ratio next to it; "
                     "engine threads: vigil processes × threads / llama-server processes × threads).\n")
        parts.append("| goal | measured | |")
        parts.append("|---|---|---|")
        for g, m, o in rows:
            parts.append(f"| {g} | {m} | {o} |")
        parts.append("")
    notes = os.path.join(repo, "bench/NOTES.md")
    if os.path.exists(notes):
        parts.append(open(notes).read())
    for name in ("tiny", "bench"):
        if name in chosen:
            parts.append(section(chosen[name], img_dir, "img"))
    parts.append(storm_section(repo))
    with open(os.path.join(repo, "docs/benchmarks.md"), "w") as f:
        f.write("\n".join(parts).rstrip() + "\n")
    print(f"wrote {os.path.join(repo, 'docs/benchmarks.md')}")


if __name__ == "__main__":
    write_doc(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
