#!/usr/bin/env python3
"""How long a new user waits for the first answer of `./vigil demo` on a
fresh machine: from a fresh clone with an empty cache (no Debian sid root,
no build), through building what the demo needs, to the first answer.

    git clone -q REPO /tmp/fresh-demo
    python3 bench/first_demo.py --tree /tmp/fresh-demo --cache /tmp/fresh-cache \\
        --out bench/results/first-demo.json

Runs `nice -n NICE ./vigil demo` in --tree with VIGIL_CACHE=--cache (which
must not exist yet: the sid root is built from nothing) and records, in
seconds from the start, when each stage's first line appeared (the sid root
build, vigil's build, the server ready, the first answer) and the whole
run, with every output line and its time, the tree's revision and the
machine (cores, load average at the start, end and every 5 s during the
run: other processes running at the same time slow the run, so with a load
above the cores the times are upper bounds) and the CPU seconds the run's
processes used (user + system, all of them: on an idle machine the wall time
of the CPU-bound part is about that divided by the cores). Exits 1 if the
demo failed.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadavg import LoadSampler, read_loadavg  # noqa: E402

# The first output line that starts each stage (vigil, scripts/env.sh and
# src/cli/demo.cc print them).
MARKS = {
    "sid_root_build": "env: building the Debian sid root",
    "vigil_build": "vigil: first run, building",
    "server_ready": "vigil demo: server ready",
    "first_question": "== ",
}


def run(tree: str, cache: str, nice: int):
    env = dict(os.environ, VIGIL_CACHE=cache)
    cmd = ["nice", "-n", str(nice), "./vigil", "demo"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, partial = [], b""
    while True:
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        t = round(time.monotonic() - t0, 2)
        partial += chunk
        *done, partial = partial.split(b"\n")
        lines += [(t, x.decode(errors="replace")) for x in done]
    if partial:
        lines.append((round(time.monotonic() - t0, 2), partial.decode(errors="replace")))
    rc = proc.wait()
    return cmd, rc, round(time.monotonic() - t0, 2), lines


def children_cpu_s() -> float:
    """User + system CPU seconds of every finished descendant (the build's compilers included)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def stages(lines):
    out = {k: next((t for t, x in lines if x.startswith(m)), None) for k, m in MARKS.items()}
    # The first answer is the line after the first question (the answer
    # streams onto it and ends with "(right)" or "(expected: ...)").
    q = next((i for i, (_, x) in enumerate(lines) if x.startswith(MARKS["first_question"])), None)
    if q is not None and q + 1 < len(lines):
        out["first_answer"], out["first_answer_line"] = lines[q + 1][0], lines[q + 1][1].strip()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", required=True, help="a fresh clone of the repository")
    ap.add_argument("--cache", required=True, help="VIGIL_CACHE for the run; must not exist")
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if os.path.exists(a.cache) and os.listdir(a.cache):
        raise SystemExit(f"{a.cache} is not empty: the run must start with no sid root")
    if os.path.exists(os.path.join(a.tree, "build")):
        raise SystemExit(f"{a.tree}/build exists: the run must start from a fresh clone")
    rev = subprocess.run(["git", "-C", a.tree, "rev-parse", "--short=10", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", a.tree, "status", "--porcelain"], capture_output=True,
                           text=True).stdout.strip()
    load = LoadSampler()
    m = {"nproc": os.cpu_count(), "loadavg_start": read_loadavg(),
         "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    cpu0 = children_cpu_s()
    cmd, rc, total, lines = run(a.tree, a.cache, a.nice)
    cpu_s = round(children_cpu_s() - cpu0, 1)
    m["loadavg_end"] = read_loadavg()
    m["loadavg_during"] = load.stop()
    res = {"script": "bench/first_demo.py", "command": "python3 bench/first_demo.py " + " ".join(sys.argv[1:]),
           "run": f"VIGIL_CACHE={a.cache} {' '.join(cmd)}", "tree_rev": rev,
           "tree_uncommitted_changes": bool(dirty), "machine": m, "exit_code": rc, "total_s": total, "cpu_seconds": cpu_s,
           "stage_starts_s": stages(lines), "output": [{"t": t, "line": x} for t, x in lines]}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in res.items() if k != "output"}, indent=1))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
