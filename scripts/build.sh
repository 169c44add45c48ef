#!/usr/bin/env bash
# scripts/build.sh [BUILD_DIR] [cmake args...]: configure and build vigil
# (default build/, RelWithDebInfo): every target, tests, fuzz helpers and the
# generated tiny test model included. Set VIGIL_BUILD_TARGETS (space-separated
# target names) to build only those, as ./vigil's first run does.
# Runs inside the environment of scripts/env.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
if [[ "${VIGIL_IN_ENV:-}" != 1 ]]; then exec "$here/env.sh" "$0" "$@"; fi
dir=${1:-build}
shift || true
cd "$repo"
jobs=${VIGIL_JOBS:-$(nproc)}
targets=()
for t in ${VIGIL_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
cmake --build "$dir" -j"$jobs" "${targets[@]}"
