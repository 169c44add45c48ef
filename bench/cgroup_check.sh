#!/usr/bin/env bash
# bench/cgroup_check.sh: the workers' cgroup v2 memory limit on a machine
# that has cgroup v2 with the memory controller (supervisor/memory_cgroup.h),
# checked for real: the kernel's OOM kill, its report, the start log and
# /v1/workers. Two steps, because the build machine may have no cgroup v2:
#
#   bench/cgroup_check.sh pack BUILD_DIR PACK_DIR   # on the build machine: binaries + sid's
#                                                  # loader and libraries (runs anywhere x86-64)
#   bench/cgroup_check.sh run PACK_DIR OUT.json     # on the cgroup v2 machine, as root
#
# `run` makes two cgroups beside its own (its own holds other processes, and
# cgroup v2 enables a controller only below a cgroup without any), runs in
# each, alone: fault_test's cgroup and sandbox tests; `vigil serve --engine
# chaos --worker-memory-limit-mb 256` with a request whose worker allocates
# until it dies (fault oom on every attempt) and one after it. Then it
# removes both cgroups and writes OUT.json.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pack() {
  local build=$1 dir=$2
  mkdir -p "$dir/lib" "$dir/libexec"
  "$here/../scripts/env.sh" bash -c "
    for b in $build/bin/fault_test $build/bin/vigil-worker $build/bin/vigil; do ldd \$b; done |
      awk '/=>/ {print \$3} /ld-linux/ {print \$1}' | sort -u | xargs -I{} cp -L {} '$dir/lib/'
    cp $build/bin/fault_test $build/bin/vigil-worker $build/bin/vigil '$dir/libexec/'
    strip --strip-debug '$dir'/libexec/* '$dir'/lib/*"
  cp "$here/cgroup_check.sh" "$dir/"
  for p in vigil vigil-worker; do
    printf '#!/bin/sh\nd=$(cd "$(dirname "$0")" && pwd)\nexec "$d/lib/ld-linux-x86-64.so.2" --library-path "$d/lib" "$d/libexec/%s" "$@"\n' \
      "$p" >"$dir/$p"
    chmod +x "$dir/$p"
  done
  du -sh "$dir"
}

run() {
  local dir out own parent t1 t2 spid
  dir=$(cd "$1" && pwd)
  out=$2
  own=$(sed -n 's/^0:://p' /proc/self/cgroup)
  parent=$(dirname "/sys/fs/cgroup$own")
  t1=$parent/vigil-check-test-$$
  t2=$parent/vigil-check-serve-$$
  mkdir "$t1" "$t2"
  export VIGIL_TEST_WORKER_BINARY=$dir/vigil-worker VIGIL_WORKER_BINARY=$dir/vigil-worker
  local tmp
  tmp=$(mktemp -d)
  sh -c "echo \$\$ >$t1/cgroup.procs && exec $dir/lib/ld-linux-x86-64.so.2 --library-path $dir/lib \
    $dir/libexec/fault_test --gtest_filter='*Cgroup*:SandboxFault*:*EveryForbiddenAction*'" >"$tmp/fault_test.log" 2>&1 &&
    echo 0 >"$tmp/fault_rc" || echo $? >"$tmp/fault_rc"
  sh -c "echo \$\$ >$t2/cgroup.procs && exec $dir/vigil serve --engine chaos --workers 2 --port 18123 \
    --allow-fault-injection --worker-memory-limit-mb 256" >/dev/null 2>"$tmp/serve.log" &
  spid=$!
  python3 - "$tmp" <<'PY'
import base64, json, sys, time, urllib.error, urllib.request, zlib, struct
tmp, u = sys.argv[1], "http://127.0.0.1:18123"
def png(w, h):
    c = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes((200, 30, 30)) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + c(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            c(b"IDAT", zlib.compress(raw)) + c(b"IEND", b""))
image = base64.b64encode(png(8, 8)).decode()
for _ in range(200):
    try:
        if urllib.request.urlopen(u + "/ready").status == 200: break
    except Exception: time.sleep(0.05)
def post(prompt, fault=None):
    h = {"Content-Type": "application/json"}
    if fault: h["X-Vigil-Fault"] = fault
    r = urllib.request.Request(u + "/analyze", json.dumps({"prompt": prompt, "max_tokens": 4, "image": image}).encode(), h)
    try:
        resp = urllib.request.urlopen(r); return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
before = json.load(urllib.request.urlopen(u + "/v1/workers"))
oom_status, oom_body = post("too big", "kind=oom;at=before_first_token;every_attempt=1")
after = json.load(urllib.request.urlopen(u + "/v1/workers"))
next_status, _ = post("after")
json.dump({"worker_memory_limit": before["tuning"].get("worker_memory_limit"),
           "oom_request": {"status": oom_status, "error": oom_body.get("error")},
           "crash_reports": [{k: c.get(k) for k in ("cause", "detail", "signal")}
                             for w in after["workers"] for c in w.get("recent_crashes", [])],
           "next_request_status": next_status}, open(tmp + "/serve.json", "w"))
PY
  kill -TERM "$spid"
  wait "$spid" && echo 0 >"$tmp/serve_rc" || echo $? >"$tmp/serve_rc"
  find "$t1" "$t2" -depth -type d -exec rmdir {} \;
  python3 - "$tmp" "$out" "$own" "$parent" <<'PY'
import json, os, platform, re, sys
tmp, out, own, parent = sys.argv[1:]
log = open(tmp + "/fault_test.log").read()
serve_log = open(tmp + "/serve.log").read().splitlines()
result = {
    "script": "bench/cgroup_check.sh",
    "command": "bench/cgroup_check.sh pack build-h PACK && bench/cgroup_check.sh run PACK " + os.path.basename(out),
    "machine": {"kernel": platform.release(), "nproc": os.cpu_count(), "own_cgroup": own,
                "parent_subtree_control": open(parent + "/cgroup.subtree_control").read().split()},
    "fault_test": {"exit_code": int(open(tmp + "/fault_rc").read()),
                   "tests": dict((n, v) for v, n in re.findall(r"^\[\s+(OK|FAILED|SKIPPED)\s+\] (\S+) \(", log, re.M)),
                   "evidence": [l for l in log.splitlines() if l.startswith(("[cgroup oom]", "[sandbox-evidence]"))]},
    "serve": dict(json.load(open(tmp + "/serve.json")), exit_code=int(open(tmp + "/serve_rc").read()),
                  start_log=[l for l in serve_log if "sandbox_chosen" in l or "worker_cgroups" in l]),
    "cgroups_left": [d for d in os.listdir(parent) if d.startswith("vigil-check-")],
}
json.dump(result, open(out, "w"), indent=2)
print(json.dumps(result, indent=2))
PY
}

case "${1:-}" in
  pack) pack "$2" "$3" ;;
  run) run "$2" "$3" ;;
  *) echo "usage: $0 pack BUILD_DIR PACK_DIR | run PACK_DIR OUT.json" >&2; exit 2 ;;
esac
