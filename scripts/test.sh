#!/usr/bin/env bash
# scripts/test.sh: vigil's whole test suite, the command README.md and CI run.
#   1. the normal build (build/) and every ctest test: unit, fault, e2e (also
#      against a Python worker, --worker-command); the Python worker
#      package's own unit tests (python/vigil_worker/tests);
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan/);
#   3. each libFuzzer target for 10 seconds (build-fuzz/);
#   4. stopping vigil as users and process managers do (tests/e2e/stop_test.py):
#      on the host, through ./vigil, so the launcher in between is tested too.
#   5. on the host, with node (tests/node/): the official Ollama JS client, the
#      web page in headless chromium (puppeteer-core), deploy/ (kustomize
#      render + pinned Kubernetes schemas, systemd-analyze verify).
# Set VIGIL_SKIP_ASAN=1, VIGIL_SKIP_FUZZ=1, VIGIL_SKIP_STOP=1 or VIGIL_SKIP_NODE=1 to skip a stage locally.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
stop_tests() {
  [[ "${VIGIL_SKIP_STOP:-}" == 1 ]] && return 0
  step "stop tests: SIGTERM/SIGINT through ./vigil, as users and process managers send them"
  python3 "$repo/tests/e2e/stop_test.py" "$repo/build"
}
node_tests() {
  [[ "${VIGIL_SKIP_NODE:-}" == 1 ]] && return 0
  step "node tests: Ollama JS client, web page in chromium, deploy/ manifests and unit"
  # Host tools the stage needs; CI runs as root on Debian 12 with its mirror.
  local need=()
  command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
  [[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || need+=(chromium)
  command -v systemd-analyze >/dev/null || need+=(systemd)
  # kubectl renders kustomize; Debian 12's kubernetes-client (kubectl 1.20,
  # kustomize v2.0) is enough for deploy/kubernetes.
  command -v "${KUBECTL:-kubectl}" >/dev/null || need+=(kubernetes-client)
  if ((${#need[@]})); then
    echo "installing ${need[*]} on the host"
    apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
  fi
  cd "$repo/tests/node"
  npm ci --no-audit --no-fund --loglevel=error
  local t
  for t in deploy ollama web; do  # one at a time: each starts its own server
    VIGIL_BUILD="$repo/build" node --test "$t.test.mjs"
  done
  cd "$repo"
}
if [[ "${VIGIL_IN_ENV:-}" != 1 ]]; then
  "$here/env.sh" "$0" "$@"  # stages 1-3, where vigil builds (scripts/env.sh)
  stop_tests
  node_tests
  step "all tests passed"
  exit 0
fi
cd "$repo"
jobs=$(nproc)

step "build"
"$here/build.sh" build
step "tests"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 300
step "python worker package: unit tests (python/vigil_worker, about 10 s)"
(cd "$repo/python" && python3 -m unittest discover -s vigil_worker/tests -t .)

if [[ "${VIGIL_SKIP_ASAN:-}" != 1 ]]; then
  step "sanitizer build (ASan + UBSan)"
  "$here/build.sh" build-asan -DVIGIL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  step "tests under ASan + UBSan"
  # The fault and e2e tests drive the sanitized supervisor against the plain
  # worker of build/: their oom cases cap workers with RLIMIT_AS, which a
  # sanitized worker (terabytes of shadow mappings) cannot start under. The
  # worker's own code is checked under ASan by its unit and process tests.
  VIGIL_TEST_WORKER_BINARY="$repo/build/bin/vigil-worker" \
  VIGIL_WORKER_BINARY="$repo/build/bin/vigil-worker" \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 600 -LE no_asan
fi

if [[ "${VIGIL_SKIP_FUZZ:-}" != 1 ]]; then
  step "fuzz targets (clang, libFuzzer + ASan + UBSan), 10 s each"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DVIGIL_FUZZ=ON -DVIGIL_WORKER=OFF >/dev/null
  cmake --build build-fuzz --target fuzz_all -j"$jobs"
  ctest --test-dir build-fuzz --output-on-failure -L fuzz
fi
