#!/usr/bin/env bash
# scripts/test.sh: vigil's whole test suite, the command README.md and CI run.
#   1. the normal build (build/) and every ctest test: unit, fault, e2e;
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan/);
#   3. each libFuzzer target for 10 seconds (build-fuzz/);
#   4. stopping vigil as users and process managers do (tests/e2e/stop_test.py):
#      on the host, through ./vigil, so the launcher in between is tested too.
# Set VIGIL_SKIP_ASAN=1, VIGIL_SKIP_FUZZ=1 or VIGIL_SKIP_STOP=1 to skip a stage locally.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
stop_tests() {
  [[ "${VIGIL_SKIP_STOP:-}" == 1 ]] && return 0
  step "stop tests: SIGTERM/SIGINT through ./vigil, as users and process managers send them"
  python3 "$repo/tests/e2e/stop_test.py" "$repo/build"
}
if [[ "${VIGIL_IN_ENV:-}" != 1 ]]; then
  "$here/env.sh" "$0" "$@"
  if [[ "${VIGIL_ENV:-}" != native ]]; then stop_tests; fi
    exit 0
fi
cd "$repo"
jobs=$(nproc)

step "build"
"$here/build.sh" build
step "tests"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 300

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
