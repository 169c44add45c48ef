#!/usr/bin/env python3
"""What the worker sandbox does to each forbidden action on this machine
(issue 13, item 1), collected into one result file for the docs' table.

Two sources, both run here:
- `vigil-worker --sandbox-selftest`: each action tried by a forked process
  sandboxed as a loaded worker is (as `nobody` when run as root);
- the fault-injection tests (`fault_test`, SandboxFault.* and the cgroup
  tests): a serving worker made to try each action; what the supervisor
  reported (cause, detail) and what the worker said last.

    nice -n 10 scripts/env.sh python3 bench/sandbox.py --build build [--out bench/results/sandbox.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time


def selftest(worker: str) -> dict:
    p = subprocess.run([worker, "--sandbox-selftest"], capture_output=True, text=True, timeout=120)
    lines = p.stdout.splitlines()
    out = {"exit_code": p.returncode, "header": lines[0] if lines else "", "sandbox": "", "actions": {}}
    for line in lines[1:]:
        line = line.strip()
        if line.startswith("sandbox: "):
            out["sandbox"] = line[len("sandbox: "):]
            continue
        m = re.match(r"(.+?)\s{2,}(.+)$", line)
        if m:
            out["actions"][m.group(1)] = m.group(2)
    return out


def fault_tests(fault_test: str) -> dict:
    p = subprocess.run([fault_test, "--gtest_filter=SandboxFault*:*EveryForbiddenAction*:*Cgroup*"],
                       capture_output=True, text=True, timeout=600)
    cases = {}
    for line in p.stdout.splitlines():
        if line.startswith("[sandbox-evidence] "):
            case = json.loads(line[len("[sandbox-evidence] "):])
            cases[case.pop("kind")] = case
        elif line.startswith("[cgroup oom] "):
            cases["oom (cgroup v2)"] = {"detail": line[len("[cgroup oom] "):]}
    results = re.findall(r"^\[\s+(OK|FAILED|SKIPPED)\s+\] (\S+) \(", p.stdout, re.M)
    skipped = {name: "" for verdict, name in results if verdict == "SKIPPED"}
    for name in skipped:  # the reason gtest prints just before
        m = re.search(r"Skipped\n(.*)\n\n?\[\s+SKIPPED\s+\] " + re.escape(name), p.stdout)
        skipped[name] = m.group(1).split(": ", 1)[-1] if m else ""
    return {"exit_code": p.returncode, "cases": cases,
            "tests": {name: verdict for verdict, name in results}, "skipped_because": skipped}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "sandbox.json"))
    a = ap.parse_args()
    result = {
        "script": "bench/sandbox.py",
        "command": "nice -n 10 scripts/env.sh python3 " + " ".join(["bench/sandbox.py"] + sys.argv[1:]),
        "kernel": platform.release(), "uid": os.geteuid(), "nproc": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "selftest": selftest(os.path.join(a.build, "bin", "vigil-worker")),
        "fault_injection": fault_tests(os.path.join(a.build, "bin", "fault_test")),
    }
    text = json.dumps(result, indent=2)
    print(text)
    with open(a.out, "w") as f:
        f.write(text + "\n")
    ok = result["selftest"]["exit_code"] == 0 and result["fault_injection"]["exit_code"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
