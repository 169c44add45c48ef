#!/usr/bin/env bash
# scripts/build.sh [BUILD_DIR] [cmake args...]: configure and build vigil
# (default build/, RelWithDebInfo), including the generated tiny test model.
# Runs inside the environment of scripts/env.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
if [[ "${VIGIL_IN_ENV:-}" != 1 ]]; then exec "$here/env.sh" "$0" "$@"; fi
dir=${1:-build}
shift || true
cd "$repo"
jobs=${VIGIL_JOBS:-$(nproc)}
cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
cmake --build "$dir" -j"$jobs"
