#!/usr/bin/env bash
# tools/train/env.sh: run a command in a Debian sid root with torch,
# transformers, sentencepiece, gguf-py and the llama.cpp tools: what
# tokenizer.py, export.py and a CPU smoke run of train.py need (vigil's own
# build root, scripts/env.sh, has no torch). Made once by mmdebstrap (about
# 3 minutes, 3 GB), cached outside the work tree, entered with bubblewrap.
#
#   tools/train/env.sh CMD [ARGS...]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pkgs=python3,python3-torch,python3-transformers,python3-sentencepiece,python3-gguf,python3-numpy,python3-pil,python3-safetensors,python3-yaml,llama.cpp-tools,llama.cpp-tools-extra,procps
cache=${VIGIL_TRAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-train}
root="$cache/root"

if [[ ! -f "$root/.vigil-ready" ]]; then
  for t in mmdebstrap bwrap; do command -v $t >/dev/null || { echo "need $t" >&2; exit 1; }; done
  mkdir -p "$cache"
  echo "train-env: building $root (a few minutes, once)" >&2
  rm -rf "$root.tmp"
  mmdebstrap --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' --include="$pkgs" \
    sid "$root.tmp" http://deb.debian.org/debian >"$cache/mmdebstrap.log" 2>&1 ||
    { tail -20 "$cache/mmdebstrap.log" >&2; exit 1; }
  touch "$root.tmp/.vigil-ready"
  mv "$root.tmp" "$root"
fi

binds=()
for d in /tmp /var/tmp /home /root /work "$repo" "$PWD"; do
  [[ -d "$d" ]] && binds+=(--bind "$d" "$d")
done
exec bwrap --bind "$root" / --proc /proc --dev /dev "${binds[@]}" \
  --setenv PATH /usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin --unsetenv PYTHONPATH \
  --setenv OMP_NUM_THREADS "${OMP_NUM_THREADS:-1}" \
  --die-with-parent --chdir "$PWD" "$@"
