#!/usr/bin/env bash
# scripts/test.sh: vigil's whole test suite, the command README.md and CI run.
#   1. the normal build (build/) and every ctest test: unit, fault, e2e;
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan/);
#   3. each libFuzzer target for VIGIL_FUZZ_SECONDS (default 10) (build-fuzz/).
# Set VIGIL_SKIP_ASAN=1 or VIGIL_SKIP_FUZZ=1 to skip a stage locally.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
if [[ "${VIGIL_IN_ENV:-}" != 1 ]]; then exec "$here/env.sh" "$0" "$@"; fi
cd "$repo"
jobs=$(nproc)
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "build"
"$here/build.sh" build
step "tests"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 300

if [[ "${VIGIL_SKIP_ASAN:-}" != 1 ]]; then
  step "sanitizer build (ASan + UBSan)"
  "$here/build.sh" build-asan -DVIGIL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  step "tests under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 600 -LE no_asan
fi

if [[ "${VIGIL_SKIP_FUZZ:-}" != 1 && -f tests/fuzz/CMakeLists.txt ]]; then
  step "fuzz targets"
  CC=clang CXX=clang++ "$here/build.sh" build-fuzz -DVIGIL_FUZZ=ON -DVIGIL_WORKER=OFF
  secs=${VIGIL_FUZZ_SECONDS:-10}
  for bin in build-fuzz/bin/fuzz_*; do
    name=$(basename "$bin")
    corpus=build-fuzz/corpus/$name
    mkdir -p "$corpus"
    seeds=()
    [[ -d tests/fuzz/seeds/$name ]] && seeds=("tests/fuzz/seeds/$name")
    echo "-- $name for ${secs}s"
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 "$corpus" "${seeds[@]}" 2>&1 | tail -2
  done
fi
step "all tests passed"
