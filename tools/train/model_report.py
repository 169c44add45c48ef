#!/usr/bin/env python3
"""Renders the measured parts of docs/model.md and models/default/MODEL.md
from their result files, so every figure there names its source:

    scripts/env.sh python3 tools/train/model_report.py

| section (between `<!-- begin NAME -->` and `<!-- end NAME -->`) | result file | made by |
|---|---|---|
| accuracy-vigil (docs/model.md), accuracy-summary (MODEL.md) | bench/results/model-accuracy-vigil.json | tools/train/eval.py --vigil ... |
| accuracy-llama-server (docs/model.md) | bench/results/model-accuracy-llama-server.json | tools/train/eval.py |
| speed (docs/model.md), files (MODEL.md) | bench/results/model-speed.json | tools/train/speed.py |
| training (docs/model.md) | tools/train/runs/stage1.json, stage2.json | tools/train/train.py (retrain.sh) |

A section whose result file is missing is left as it is (and said so), so
the script can run after any one of the measurements. The commands that
make the files are in each file ("command") and in eval.py's and speed.py's
docstrings.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "bench"))
from loadavg import describe as describe_load  # noqa: E402

TYPE_NAMES = {"describe": "description", "count_all": "count (all shapes)",
              "count_shape": "count (one shape)", "color": "colour", "yesno": "yes/no", "shape": "shape"}
VARIANT_NAMES = {"clean": "clean (224 px PNG)", "jpeg75": "JPEG q75", "640": "scaled to 640x640",
                 "100": "scaled to 100x100"}


def machine_line(r: dict) -> str:
    m = r["machine"]
    load = describe_load(m.get("loadavg_during"))
    return (f"{m['nproc']} cores ({m['cpu']}); load average {' '.join(m.get('loadavg_start', []))} at the start, "
            f"{' '.join(m.get('loadavg_end', []))} at the end" + (f"; {load}" if load else ""))


def source_line(r: dict, rel: str) -> str:
    binary = f", binary {r['vigil_binary']}" if r.get("vigil_binary") else ""
    return (f"Source: `{rel}`, made on {r['date']} (vigil {r['vigil_rev']}{binary}, {r['seconds'] / 60:.1f} min) by "
            f"`{r['command']}`. Machine: {machine_line(r)}.")


def accuracy_table(r: dict) -> str:
    variants = list(r["results"])
    rows = ["| question type | " + " | ".join(VARIANT_NAMES.get(v, v) for v in variants) + " |",
            "|---|" + "---|" * len(variants)]
    for t, name in TYPE_NAMES.items():
        cells = []
        for v in variants:
            x = r["results"][v].get(t)
            cells.append(f"{x['correct'] / x['n'] * 100:.1f} % ({x['correct']}/{x['n']})" if x else "n/a")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


ROUTES = {"chat": "OpenAI chat route (`/v1/chat/completions`, image part then text part)",
          "completion": "raw `/completion` route with exactly the prompt vigil builds"}


def accuracy_section(r: dict, rel: str, intro: str) -> str:
    return "\n".join([intro, "", accuracy_table(r), "", source_line(r, rel)])


def accuracy_summary(r: dict, rel: str) -> str:
    clean = r["results"].get("clean") or next(iter(r["results"].values()))
    parts = [f"{TYPE_NAMES[t]} {x['correct'] / x['n'] * 100:.1f} %" for t, x in clean.items() if t in TYPE_NAMES]
    return (f"Accuracy through `vigil serve`, greedy, {r['per_type']} fresh scenes per type (clean PNG): "
            + ", ".join(parts) + f" (`{rel}`; tables, JPEG and rescaled variants, speed: `docs/model.md`).")


def speed_section(r: dict, rel: str) -> str:
    ph = r["phases_ms"]
    names = {"image_encode_ms": "image encode", "prefill_ms": "prefill", "decode_ms": "decode",
             "total_ms": "whole job"}
    rows = ["| | median | min | max |", "|---|---|---|---|"]
    for k, name in names.items():
        rows.append(f"| {name} | {ph[k]['median']:.0f} ms | {ph[k]['min']:.0f} ms | {ph[k]['max']:.0f} ms |")
    ready = r["ready_after_launch_s"]
    again = r["repeated_image_follow_up"]["timings"]
    return "\n".join([
        f"`{r['server']}`" + (f" ({r['tuning']})" if r.get("tuning") else "") + f", {r['scenes']} fresh scenes (seed {r['seed']}), \"{r['prompt']}\" "
        f"({'/'.join(map(str, r['prompt_tokens']))} prompt tokens, {'/'.join(map(str, r['completion_tokens']))} "
        "answer tokens), non-streamed `POST /analyze`, timings as vigil reports them:", "",
        *rows, "",
        f"{r['right']} of {r['scenes']} answers were the canonical description. A follow-up question on the "
        f"last image (\"{r['repeated_image_follow_up']['prompt']}\") took {again['total_ms']:.0f} ms in all, its "
        f"image encode {again['image_encode_ms']:.0f} ms (the worker's embedding cache). `vigil serve` reached "
        f"`/ready` {min(ready):.2f}-{max(ready):.2f} s after launch ({len(ready)} launches).", "",
        source_line(r, rel), "", size_table(r)])


def size_table(r: dict) -> str:
    rows = ["| file | size |", "|---|---|"]
    for name, f in r["model"].items():
        rows.append(f"| `{name}` (f16) | {f['bytes']:,} bytes |")
    total = sum(f["bytes"] for f in r["model"].values())
    rows.append(f"| together | {total / 1e6:.1f} MB (limit 25 MB) |")
    return "\n".join(rows)


def files_table(r: dict) -> str:
    rows = ["| file | bytes | sha256 |", "|---|---|---|"]
    for name, f in r["model"].items():
        rows.append(f"| `{name}` | {f['bytes']:,} | `{f['sha256']}` |")
    return "\n".join(rows)


def stage_line(name: str, r: dict) -> str:
    c = r["config"]
    acc = ", ".join(f"{TYPE_NAMES[t]} {v * 100:.1f} %" for t, v in r["final_eval"].items() if t in TYPE_NAMES)
    return (f"- {name}: {r['steps']:,} steps x {c['batch_size']} sequences in {r['train_seconds']:.0f} s on "
            f"{r['device']} (time budget {c['time_budget_s']} s, step limit {c['steps']:,}), lr {c['lr']:g} with "
            f"{c['warmup_steps']} warm-up steps and cosine decay to {c['min_lr_frac']:g} of it, weight decay "
            f"{c['weight_decay']:g}, seed {c['seed']}, {c['workers']} CPU workers drawing scenes. In-training "
            f"accuracy at the end (teacher-forced exact match, {c['eval_per_type']} clean scenes per type): {acc}.")


def training_section(runs: dict) -> str:
    s1, s2 = runs["stage1"], runs["stage2"]
    seqs = sum(r["steps"] * r["config"]["batch_size"] for r in (s1, s2))
    secs = sum(r["train_seconds"] for r in (s1, s2))
    return "\n".join([
        stage_line("Stage 1", s1), stage_line("Stage 2, from stage 1", s2),
        f"- Total: {secs:.0f} s of training ({secs / 60:.1f} minutes), {seqs / 1e6:.2f} million sequences "
        f"({seqs / s1['config']['qa_per_image'] / 1e6:.2f} million scenes). Source: `tools/train/runs/stage1.json` "
        "and `stage2.json`, written by `train.py` (full config, loss and accuracy history)."])


def replace_section(text: str, name: str, body: str) -> tuple[str, bool]:
    pat = re.compile(rf"(<!-- begin {re.escape(name)}[^\n]*-->\n).*?(<!-- end {re.escape(name)} -->)", re.S)
    new, n = pat.subn(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return new, n == 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=REPO, help="the tree whose docs are rewritten")
    args = ap.parse_args()
    res = args.repo / "bench" / "results"

    def load(name):
        p = res / name
        return (json.loads(p.read_text()), f"bench/results/{name}") if p.exists() else (None, None)

    vigil, vrel = load("model-accuracy-vigil.json")
    peer, prel = load("model-accuracy-llama-server.json")
    speed, srel = load("model-speed.json")
    runs_dir = args.repo / "tools" / "train" / "runs"
    runs = ({n: json.loads((runs_dir / f"{n}.json").read_text()) for n in ("stage1", "stage2")}
            if all((runs_dir / f"{n}.json").exists() for n in ("stage1", "stage2")) else None)
    plan = {
        "docs/model.md": [
            ("accuracy-vigil", vigil and (lambda: accuracy_section(
                vigil, vrel, f"`{vigil['server']} --threads {vigil['threads']}` with the model pair, "
                f"{ROUTES.get(vigil['route'], vigil['route'])}, so vigil's image path (decode, orientation, resize) and its prompt are "
                f"the ones measured; {vigil['per_type']} fresh scenes per type, eval seed {vigil['seed']}."))),
            ("accuracy-llama-server", peer and (lambda: accuracy_section(
                peer, prel, f"`{peer['server']}` (the engine vigil embeds), {ROUTES.get(peer['route'], peer['route'])}; "
                f"{peer['per_type']} fresh scenes per type, eval seed {peer['seed']}."))),
            ("speed", speed and (lambda: speed_section(speed, srel))),
            ("training", runs and (lambda: training_section(runs)))],
        "models/default/MODEL.md": [("files", speed and (lambda: files_table(speed))),
                                    ("accuracy-summary", vigil and (lambda: accuracy_summary(vigil, vrel)))],
    }
    for doc, sections in plan.items():
        path = args.repo / doc
        text = path.read_text()
        for name, render in sections:
            if not render:
                print(f"{doc}: {name}: no result file, left as it is")
                continue
            text, ok = replace_section(text, name, render())
            if not ok:
                raise SystemExit(f"{doc}: no '<!-- begin {name} -->' ... '<!-- end {name} -->' markers")
            print(f"{doc}: {name}: rewritten")
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
