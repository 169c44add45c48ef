#!/usr/bin/env python3
"""Writes docs/gpu.md from the results of a GPU run (bench/gpu.py's gpu.json).

    scripts/env.sh python3 bench/gpu_report.py bench/results/gpu-h200.json

Every number in the document comes from that file; the prose around the
tables says only what holds for any run (how it was measured).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadavg import describe as describe_load  # noqa: E402
from run import fmt_ratio, pooled_ratio  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ms(x):
    return "n/a" if x is None else f"{x * 1000:.0f} ms"


def mib(x):
    return "n/a" if x is None else f"{x:.0f}"


def throughput_table(tp, threads):
    rows = ["| clients | processes × engine threads, vigil / llama-server | vigil tok/s | llama-server tok/s | "
            "vigil/peer tok/s, median [IQR] of rounds | vigil/peer tok/s, pooled | TTFT p50 vigil | TTFT p50 peer | "
            "vigil/peer TTFT [IQR] | e2e p50 vigil | e2e p50 peer | vigil/peer e2e p50 [IQR] | errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c, r in tp["ratios"].items():
        a = r["abs"]
        rounds = tp.get("per_clients", {}).get(c, {}).get("rounds", [])
        rows.append(f"| {c} | {c}×{threads} / 1×{threads} | {a['vigil']['tok_s']['median']:.0f} | "
                    f"{a['peer']['tok_s']['median']:.0f} | {fmt_ratio(r['tok_s'])} | "
                    f"{pooled_ratio(rounds, 'tok_s') if rounds else 'n/a'} | {ms(a['vigil']['ttft_p50']['median'])} | "
                    f"{ms(a['peer']['ttft_p50']['median'])} | {fmt_ratio(r['ttft_p50'])} | "
                    f"{ms(a['vigil']['e2e_p50']['median'])} | {ms(a['peer']['e2e_p50']['median'])} | "
                    f"{fmt_ratio(r['e2e_p50'])} | {r['errors']['vigil']} / {r['errors']['peer']} |")
    return "\n".join(rows)


def throughput_reading(tp):
    r = tp["ratios"]
    cs = list(r)
    join = lambda xs: ", ".join(xs[:-1]) + " and " + xs[-1] if len(xs) > 1 else xs[0]
    tok = join([f"{r[c]['tok_s']['median']:.2f} at {c}" for c in cs])
    own = join([f"{r[c]['abs']['vigil']['tok_s']['median']:.0f}" for c in cs])
    ttft = join([f"{r[c]['ttft_p50']['median']:.2f}" for c in cs])
    e2e = join([f"{r[c]['e2e_p50']['median']:.2f}" for c in cs])
    return (f"Reading: vigil's throughput is {tok} clients of llama-server's; vigil's own is {own} tok/s. "
            "vigil's N workers are N processes, each decoding its own request, while llama-server decodes all "
            "its slots in one batch; a total that stays flat as workers are added is what time-slicing of "
            "separate processes' GPU work gives (not profiled here). vigil's time to first "
            f"token (p50) is {ttft} of llama-server's, its end-to-end latency (p50) {e2e}. In this run each "
            "vigil worker ran one job at a time (`--workers N`); docs/defaults.md measures vigil at its "
            "defaults on a GPU, where a worker batches several jobs.")


def encode_table(enc):
    rows = ["| | image encode | prompt processing: encode + prefill (prompt tokens) | TTFT, image + prompt "
            "| TTFT, text only |", "|---|---|---|---|---|"]
    for name, label in (("vigil", "vigil"), ("peer", "llama-server")):
        e = enc[name]
        ie = e.get("image_encode_ms")
        ie = f"{ie['median']:.1f} ms" if ie and ie.get("median") is not None else "not reported separately"
        pm = e.get("prompt_ms") or {}
        pm = f"{pm['median']:.1f} ms ({e.get('prompt_tokens')})" if pm.get("median") is not None else "n/a"
        rows.append(f"| {label} | {ie} | {pm} | {ms(e['ttft_image_s']['median'])} | {ms(e['ttft_text_s']['median'])} |")
    ratio = enc.get("prompt_ms_ratio_of_medians")
    if ratio:
        rows.append(f"| vigil / llama-server | | {ratio:.2f} (ratio of medians) | "
                    f"{enc['vigil']['ttft_image_s']['median'] / enc['peer']['ttft_image_s']['median']:.2f} | "
                    f"{enc['vigil']['ttft_text_s']['median'] / enc['peer']['ttft_text_s']['median']:.2f} |")
    return "\n".join(rows)


def faults_table(faults):
    rows = ["| fault | requests ok | victim's attempts | others' attempts | fault → victim reaped | "
            "fault → victim's next token | fault → replacement loaded (its load) |",
            "|---|---|---|---|---|---|---|"]
    for name, f in faults.items():
        ok = sum(1 for o in f["outcomes"] if o["ok"])
        rows.append(f"| {name} | {ok}/{len(f['outcomes'])} | {f['victim_attempts']} | {f['others_attempts']} | "
                    f"{ms(f['fault_to_victim_reaped_s'])} | {ms(f['fault_to_victim_next_token_s'])} | "
                    f"{ms(f['fault_to_replacement_loaded_s'])} ({f['replacement_load_ms']:.0f} ms) |")
    return "\n".join(rows)


def memory_table(faults):
    rows = ["| fault | before vigil | workers loaded | at the fault | lowest, fault → replacement loaded | "
            "replacement loaded | vigil stopped |", "|---|---|---|---|---|---|---|"]
    for name, f in faults.items():
        rows.append(f"| {name} | {mib(f['mem_before_vigil_mib'])} | {mib(f['mem_loaded_mib'])} | "
                    f"{mib(f['mem_during_mib'])} | {mib(f['mem_lowest_between_fault_and_replacement_mib'])} | "
                    f"{mib(f['mem_after_replacement_loaded_mib'])} | {mib(f['mem_after_vigil_stopped_mib'])} |")
    return "\n".join(rows)


def memory_notes(faults):
    notes = []
    for name, f in faults.items():
        before, after = f["mem_loaded_mib"], f["mem_after_replacement_loaded_mib"]
        if before is not None and after is not None and before != after:
            notes.append(f"For {name} the level once the replacement had loaded was {after - before:+.0f} MiB from the "
                         f"level before the fault, and {mib(f['mem_after_vigil_stopped_mib'])} MiB after vigil stopped. "
                         "Where the difference comes from was not investigated.")
    return ["", *notes] if notes else []


def oom_section(o):
    out = []
    c = o.get("context_too_large")
    if c:
        out.append(f"- **A context too large for the card** (`--ctx {c['cmd'][c['cmd'].index('--ctx') + 1]}`): "
                   f"the worker's load failed after {c['load_failed_after_s']:.1f} s; a request got HTTP "
                   f"{c['request']['status']} `{c['request'].get('type')}` with `x-should-retry: "
                   f"{c['request']['x-should-retry']}`; `/ready` {c['ready']['status']}; the slot was "
                   f"`{c['slot']['state']}` with reason:\n  `{c['slot']['reason']}`.\n  GPU memory used: "
                   f"{mib(c['mem_before_mib'])} MiB before, {mib(c['mem_after_failure_mib'])} MiB after.")
    c = o.get("card_full")
    if c:
        free, total = (int(x) for x in c["hog_free_total_bytes"].split())
        out.append(f"- **A card another process has filled** (the benchmark started a PyTorch process that took all but 256 MiB of the "
                   f"{free / 2**30:.1f} GiB free): GPU memory used {mib(c['mem_with_hog_mib'])} MiB; vigil's worker "
                   f"failed to load, a request got HTTP {c['request_while_full']['status']} "
                   f"`{c['request_while_full'].get('type')}`, the slot was `{c['slot_while_full']['state']}`:\n  "
                   f"`{c['slot_while_full']['reason']}`.\n  The other process exited (memory "
                   f"{mib(c.get('mem_after_hog_exit_mib'))} MiB); {c['freed_to_loaded_s']:.1f} s later the worker had "
                   f"loaded (at the next `--oom-retry` attempt; failed attempts before: {c['attempts_before_load']}), and a "
                   f"request got HTTP {c['request_after_freed']['status']}. Memory with the worker loaded "
                   f"{mib(c.get('mem_loaded_mib'))} MiB, after vigil stopped {mib(c['mem_after_vigil_stopped_mib'])} MiB.")
    return "\n".join(out)


def render(res, results_path):
    m = res["machine"]
    faults = res.get("faults", {})
    first = next(iter(faults.values()), {})
    facts = (first.get("workers_model_facts") or [None])[0]
    lines = [
        "# vigil on a GPU",
        "",
        "<!-- generated by bench/gpu_report.py from " + os.path.relpath(results_path, REPO) + "; do not edit -->",
        "",
        "What a GPU changes for vigil, and what a worker that dies or hangs while it decodes on the GPU costs.",
        "In the run below the benchmark sends SIGSEGV, SIGKILL or SIGSTOP from outside to a worker in the middle",
        "of GPU inference (a stand-in for a crash or hang of native code there): its request costs one retry, the",
        "GPU memory comes back, a fresh worker takes over, and the other requests are not retried.",
        "",
        "## Options",
        "",
        "- `vigil serve --gpu-layers N`: layers offloaded per worker, as llama-server's `-ngl` (-1, the default: all",
        "  when a GPU is present; 0: CPU only, the vision encoder included).",
        "- `--worker-devices Vulkan0,Vulkan1`: spreads workers over devices, round-robin by slot (spares too). Each",
        "  worker uses one device, never a split. `vigil devices` lists the names (it asks a worker binary: the",
        "  supervisor links no GPU library).",
        "- `--oom-retry S` (30): a worker whose model, context or buffers do not fit its device's memory fails its",
        "  load with the typed code `out_of_memory` (HTTP 503, `x-should-retry: false`) and loads again only after",
        "  S seconds, since another process may free the memory. No restart loop.",
        "- `/v1/workers` shows per worker `model.device`, `device_memory_total`, `device_memory_free` (as ggml",
        "  reports them for the whole device, at load and after every job), `gpu_layers` and the slot's",
        "  `assigned_device`; `/metrics` has `vigil_worker_device_memory_bytes{slot,device,kind}` and",
        "  `vigil_worker_gpu_layers{slot}`.",
        "- Without cgroup v2, leave `--worker-memory-limit-mb` at 0 with GPU engines: RLIMIT_AS is the fallback",
        "  there, and drivers map large address ranges (the default gives GPU workers a limit only through a cgroup",
        "  v2 `memory.max`, docs/architecture.md, \"Sandbox\").",
        "",
        "## Running it",
        "",
        "The run needs no installation on the GPU machine.",
        "On the build machine (Debian, this repository):",
        "",
        "```",
        "scripts/gpu/pack.sh      # builds vigil (Release) and packs it with Debian sid's runtime, llama-server,",
        "                         # the ggml Vulkan backend, the Vulkan loader and libglvnd: build-gpu/pack/, ~19 MB",
        "```",
        "",
        "then copy the repository with `build-gpu/pack/` to the GPU machine and run, from its root:",
        "",
        "```",
        "bash scripts/gpu/run.sh  # unpacks, lists devices, makes the bench-size model, runs bench/gpu.py",
        "```",
        "",
        "It writes `gpu.json` and `gpu.log` to `build-gpu/out/` (or `$VIGIL_GPU_OUT`). Copy `gpu.json` back to",
        "`bench/results/` on the build machine and run",
        "`scripts/env.sh python3 bench/gpu_report.py bench/results/gpu-h200.json` to rewrite this page.",
        "",
        "## Latest results",
        "",
        f"- Date: {res['date']}; vigil revision {m.get('vigil_rev')}.",
        f"- Machine: {res.get('gpu')} (Vulkan, through Debian sid's ggml {m.get('llama_server', '').split(' built')[0]}),",
        f"  {m['nproc']} CPU cores ({m['cpu']}), {m['ram']}, kernel {m['kernel']}; load average "
        f"{' '.join(m.get('loadavg_start', []))} at the start"
        + (f", {' '.join(m['loadavg_end'])} at the end" if m.get("loadavg_end") else "")
        + (f"; {describe_load(m['loadavg_during'])}" if m.get("loadavg_during") else "") + ".",
        f"- Command: `{res['command']}`.",
        f"- Model: the bench-size pair made by `tools/modelgen/make_vlm.py --size bench` (random weights, SmolVLM-256M",
        f"  dimensions, 64 image tokens), context {res['model']['ctx']}, every layer on the GPU "
        f"(`--gpu-layers {res['gpu_layers']}` / `-ngl {res['gpu_layers']}`), {res['threads']} CPU threads per engine.",
        f"- GPU memory: {res['gpu_memory_source']}, in MiB.",
        "",
        "### Throughput and latency, vigil next to llama-server",
        "",
        f"Streamed chat requests, each a fresh 512 px JPEG + prompt, temperature 0, {res['model']['max_tokens']} tokens",
        "(`ignore_eos`); N clients against `vigil --workers N` and `llama-server -np N`, same model, same GPU, same",
        "run, alternating A/B rounds; ratios are medians [IQR] of per-round ratios, and the pooled ratio divides",
        "each server's tokens summed over all rounds by its summed wall time; e2e = request sent → end of",
        "the stream; both servers' caches off.",
        "",
        throughput_table(res["throughput"], res["threads"]),
        "",
        throughput_reading(res["throughput"]),
        "",
        "### Image encode",
        "",
        encode_table(res["encode"]),
        "",
        "Non-streamed chat requests with a fresh 512 px image, one server at a time, each measured by its own",
        "timings: vigil's worker times the vision encoder alone (`image_encode_ms`) and the prefill after it;",
        "llama-server reports prompt processing (`timings.prompt_ms`, the image encode included) without",
        "splitting out the encode, so the comparable column is the prompt processing. The two count prompt tokens",
        "differently (in brackets). TTFT columns are streamed requests.",
        "",
        "### Faults on the GPU",
        "",
        f"`vigil serve --workers 2 --hang-limit 2`, {len(first.get('outcomes', []))} streamed `/analyze` requests in",
        "flight (fresh images, 400 tokens each). When one worker is decoding on the GPU, the benchmark sends it the",
        "signal: SIGSEGV, SIGKILL, SIGSTOP, then SIGKILL again with a loaded spare (`--spare-workers 1`). The",
        "victim's next token is the first text on the victim request's stream after the victim was reaped (the",
        "retry's), timed from the signal. A SIGSTOPped worker sends nothing; the supervisor finds it hung when its",
        "progress has been frozen for the hang limit (2 s here), kills it and retries.",
        "",
        faults_table(faults),
        "",
        "GPU memory used (MiB), read by nvidia-smi every 100 ms:",
        "",
        memory_table(faults),
        "",
        "A dead worker's GPU memory is back as soon as it is reaped (the lowest reading between the fault and",
        "the replacement's `loaded`), the replacement brings the level back to where it was, and stopping vigil",
        "brings it to the level before vigil started. In `/v1/workers` the replacement went "
        f"{' → '.join('`%s`' % s for s in first.get('replacement_states_seen', []))}: it takes jobs only after",
        "its `loaded` message, so no request waits on a worker that is still loading.",
        *memory_notes(faults),
        "",
        "### Out of GPU memory",
        "",
        oom_section(res.get("oom", {})),
        "",
        "### What the supervisor knew of the GPU",
        "",
        "From its workers only (`/v1/workers`, one worker's `model`):",
        "",
        "```",
        json.dumps(facts, indent=1) if facts else "(not recorded)",
        "```",
        "",
        "`/metrics`:",
        "",
        "```",
        "\n".join(first.get("metrics_device_lines") or ["(not recorded)"]),
        "```",
        "",
        "### Not covered by this run",
        "",
        "- Several GPUs: `--worker-devices` is tested with a scripted worker (`tests/fault`), not on a machine",
        "  with more than one GPU.",
        "- CUDA and Metal builds of ggml: the run uses Debian's Vulkan backend; the worker's code is the same.",
        "",
    ]
    return "\n".join(lines)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "bench/results/gpu-h200.json")
    res = json.load(open(path))
    doc = render(res, os.path.abspath(path))
    with open(os.path.join(REPO, "docs/gpu.md"), "w") as f:
        f.write(doc)
    print("wrote docs/gpu.md")


if __name__ == "__main__":
    main()
