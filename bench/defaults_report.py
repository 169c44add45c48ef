#!/usr/bin/env python3
"""Renders docs/defaults.md from the result files of the defaults benchmarks:

    bench/results/defaults-tiny.json, defaults-bench.json   (bench/defaults.py, CPU)
    bench/results/takeover-*.json                           (bench/takeover.py)
    bench/results/gpu-defaults.json                         (bench/gpu.py --only devices,defaults,takeover,scale)

    python3 bench/defaults_report.py

Every number in the page is read from those files; the page names each file.
"""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadavg import describe as describe_load  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    path = os.path.join(REPO, "bench", "results", name)
    return (json.load(open(path)), "bench/results/" + name) if os.path.exists(path) else (None, None)


def f2(x):
    return "n/a" if x is None else f"{x:.2f}"


def machine_line(m):
    load = " ".join(m.get("loadavg_start", [])), " ".join(m.get("loadavg_end", []))
    return (f"{m.get('nproc')} cores ({m.get('cpu')}), {m.get('ram')} RAM, kernel {m.get('kernel')}; "
            f"load average at start {load[0]}, at end {load[1]}"
            + (f"; {describe_load(m['loadavg_during'])}" if m.get("loadavg_during") else "")
            + f"; {m.get('date')}; vigil {m.get('vigil_rev', '?')}")


def goals_table(goals):
    rows = ["| clients | metric | goal (vigil / llama-server) | median of per-round ratios | pooled ratio | verdict |",
            "|---|---|---|---|---|---|"]
    for g in goals:
        rows.append(f"| {g['clients']} | {g['metric']} | {g['goal']} | {f2(g['median_ratio'])} | "
                    f"{f2(g['pooled_ratio'])} | {'met' if g['met'] else '**not met**'} |")
    return "\n".join(rows)


def abs_table(res, latency_keys=("ttft_p50", "e2e_p50")):
    rows = ["| clients | server | requests/s | tokens/s | TTFT p50 | e2e p50 | errors |", "|---|---|---|---|---|---|---|"]
    for c, r in res["by_clients"].items():
        for s, name in (("vigil", "vigil"), ("peer", "llama-server")):
            a = r["abs"][s]
            rows.append(f"| {c} | {name} | {a['rps']['median']:.2f} | {a['tok_s']['median']:.1f} | "
                        f"{a['ttft_p50']['median'] * 1000:.1f} ms | {a['e2e_p50']['median'] * 1000:.1f} ms | "
                        f"{r['errors'][s]} |")
    return "\n".join(rows)


def section_cpu(res, src, title):
    out = [f"## {title}", "",
           f"Source: `{src}`, made by `{res['command']}`. Machine: {machine_line(res['machine'])}.", "",
           f"- vigil: `{' '.join(os.path.basename(x) if x.endswith('.gguf') or '/' in x and x.endswith('vigil') else x for x in res['vigil_cmd'])}`; it chose: {res['vigil_chose']}",
           f"- llama-server: `{' '.join(os.path.basename(x) if x.endswith('.gguf') else x for x in res['peer_cmd'])}`; its log: {res['peer_chose'] or '?'}",
           f"- requests: streamed OpenAI chat, one fresh {res.get('image_px', 512)} px JPEG + prompt, temperature 0, "
           f"{res['model']['max_tokens']} tokens with ignore_eos, closed-loop clients, A/B rounds alternating "
           "which server goes first, the same images for both in a round.", "",
           goals_table(res["goals"]), "", abs_table(res), ""]
    if res.get("memory"):
        m = res["memory"]
        out += [f"Memory: peak PSS with {m['clients']} clients, {m['how']}: vigil {m['vigil_pss_kib'] / 1024:.0f} MiB, "
                f"llama-server {m['peer_pss_kib'] / 1024:.0f} MiB, ratio {f2(m['ratio'])}.", ""]
    return out


def section_takeover(res, src):
    out = [f"## Takeover: a worker holding 8 jobs dies ({res['model']['name']})", "",
           f"Source: `{src}`, made by `{res['command']}`. Machine: {machine_line(res['machine'])}.", "",
           f"`vigil serve --workers 1 --jobs 8 --spare-workers 1`; 8 streamed requests of {res['tokens']} tokens "
           "(fresh image each, temperature 0, ignore_eos) all in the one serving worker, which gets the signal "
           "mid-decode. *Longest stall*: the longest wait for text after the signal (from the signal to the "
           "first text after it, and between text events after it), per request.", "",
           "| signal | answered 200 | streams complete | attempts | longest stall, median | longest stall, max | goal < 50 ms |",
           "|---|---|---|---|---|---|---|"]
    for t in res["trials"]:
        att = sorted({o.get("attempts") for o in t["requests"]})
        out.append(f"| SIG{t['signal']} | {sum(o['ok'] for o in t['requests'])}/8 | "
                   f"{sum(o['complete'] for o in t['requests'])}/8 | {att} | {t['next_token_ms_median']:.1f} ms | "
                   f"{t['next_token_ms_max']:.1f} ms | {'met' if t['next_token_ms_max'] < 50 else '**not met**'} |")
    return out + [""]


def section_gpu(res, src):
    out = [f"## On a GPU ({res.get('gpu') or '?'})", "",
           f"Source: `{src}`, made by `{res['command']}`. Host: {res['machine'].get('nproc')} cores; {res['date']}; "
           f"vigil {res['machine'].get('vigil_rev', '?')}. Bench-size model (random weights, Gemma 3 shapes), "
           "every layer on the GPU (both servers' default), Vulkan backend.", ""]
    for r in res.get("runs", []):
        out.append(f"- parts {', '.join(r['parts'])}: run {r['date']}, code: {r['code']}")
    out.append("")
    d = res.get("defaults")
    if d:
        out += [f"Both at defaults. vigil chose: {d['vigil_chose']}. llama-server: {d['peer_chose'] or '?'}", "",
                goals_table(d["goals"]), "", abs_table(d), ""]
    t = res.get("takeover")
    if t:
        out += ["Takeover, a worker holding 8 jobs on the GPU (as above):", "",
                "| signal | answered 200 | streams complete | longest stall, median | longest stall, max | goal < 50 ms |",
                "|---|---|---|---|---|---|"]
        for tr in t["trials"]:
            out.append(f"| SIG{tr['signal']} | {sum(o['ok'] for o in tr['requests'])}/8 | "
                       f"{sum(o['complete'] for o in tr['requests'])}/8 | {tr['next_token_ms_median']:.1f} ms | "
                       f"{tr['next_token_ms_max']:.1f} ms | {'met' if tr['next_token_ms_max'] < 50 else '**not met**'} |")
        out.append("")
    s = res.get("scale")
    if s and "ratio_tok_s" in s:
        out += [f"Two GPUs: vigil at defaults on both ({s['all_gpus']['chose']}) against vigil at defaults "
                f"shown only the first GPU ({s['one_gpu']['chose']}), 64 clients, 256 requests: tokens/s "
                f"{s['all_gpus']['summary']['tok_s']:.0f} vs {s['one_gpu']['summary']['tok_s']:.0f}, "
                f"ratio {s['ratio_tok_s']:.2f} (goal ≥ 1.8: {'met' if s['goal_met'] else '**not met**'}).", ""]
    elif s:
        out += [f"Two-GPU scaling: {s.get('skipped', 'not measured')}.", ""]
    return out


def main():
    out = ["# vigil at its defaults, next to llama-server at its defaults", "",
           "Generated by `bench/defaults_report.py` from the result files named in each section; "
           "do not edit by hand. A user who sets no flag gets what these rows show. Ratios are "
           "vigil / llama-server from the same run; for throughput higher is better, for latency lower.", ""]
    for name, title in (("defaults-tiny.json", "CPU, tiny test model"), ("defaults-bench.json", "CPU, bench-size model")):
        res, src = load(name)
        if res:
            out += section_cpu(res, src, title)
    for path in sorted(glob.glob(os.path.join(REPO, "bench", "results", "takeover-*.json"))):
        res, src = load(os.path.basename(path))
        out += section_takeover(res, src)
    res, src = load("gpu-defaults.json")
    if res:
        out += section_gpu(res, src)
    with open(os.path.join(REPO, "docs", "defaults.md"), "w") as f:
        f.write("\n".join(out).rstrip() + "\n")
    print("wrote docs/defaults.md")


if __name__ == "__main__":
    main()
