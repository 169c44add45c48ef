#!/usr/bin/env bash
# scripts/gpu/run.sh [bench/gpu.py options]: the one command for a GPU machine.
#
# Unpacks build-gpu/pack/vigil-gpu.tar.xz (made by scripts/gpu/pack.sh on the
# build machine; nothing is installed there), generates the bench-size model
# (random weights, ~500 MB, so it is made there instead of carried), and runs
# bench/gpu.py: vigil next to llama-server on the GPU, then the fault runs.
# Results: gpu.json and gpu.log in $VIGIL_GPU_OUT (default build-gpu/out).
#
# On a Linux GPU box: scripts/gpu/pack.sh on the build machine, copy the
# repository with build-gpu/pack/ to the GPU box, then run this there
# (docs/gpu.md).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pack=${VIGIL_GPU_PACK:-$repo/build-gpu/pack/vigil-gpu.tar.xz}
work=${VIGIL_GPU_WORK:-/tmp/vigil-gpu}
out=${VIGIL_GPU_OUT:-$repo/build-gpu/out}
mkdir -p "$out"
exec > >(tee "$out/gpu.log") 2>&1

rm -rf "$work" && mkdir -p "$work"
tar -xJf "$pack" -C "$work"
export PATH="$work/bin:$PATH"
export VIGIL_PACK_REVISION=$(cat "$work/REVISION" 2>/dev/null || echo unknown)
# The NVIDIA driver's user-space libraries and Vulkan ICD, where NVIDIA's
# container runtime mounts them (/usr/local/nvidia); elsewhere the system
# loader's defaults apply.
if [[ -d /usr/local/nvidia/lib64 ]]; then
  export VIGIL_PACK_EXTRA_LIBS=/usr/local/nvidia/lib64
  export PATH="$PATH:/usr/local/nvidia/bin"
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[[ -f $icd && -z "${VK_DRIVER_FILES:-}" ]] && export VK_DRIVER_FILES=$icd
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/vigil-gpu-xdg}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

echo "== pack $VIGIL_PACK_REVISION; devices:"
vigil devices
models=${VIGIL_GPU_MODELS:-/tmp/vigil-bench-model}
if [[ ! -f $models/vigil-bench-text.gguf ]]; then
  echo "== generating the bench-size model in $models"
  PYTHONPATH="$work/python" python3 "$repo/tools/modelgen/make_vlm.py" --size bench --out "$models"
fi
cd "$repo"
PYTHONUNBUFFERED=1 python3 bench/gpu.py --vigil "$work/bin/vigil" --peer "$work/bin/llama-server" \
  --model-text "$models/vigil-bench-text.gguf" --model-mmproj "$models/vigil-bench-mmproj.gguf" \
  --out "$out" "$@"
