#!/usr/bin/env bash
# tools/train/retrain.sh: retrain vigil's default model from nothing.
#
#   tools/train/retrain.sh CKPT_DIR
#
# Run from the repository root on a machine with a CUDA GPU, python3, torch,
# transformers (5.x), sentencepiece, numpy and PIL. Runs both training stages
# (train.py, then train.py --init), about 12 minutes on one H200, and leaves
# the final Hugging Face checkpoint in CKPT_DIR/stage2. If $OUT is set (the
# lent-GPU tool's output folder) the checkpoint is also packed there as
# ckpt.tar.* parts of 15 MB. Then, on the development machine:
#
#   cat ckpt.tar.* | tar -C CKPT -xf -
#   tools/train/env.sh python3 tools/train/export.py CKPT --out models/default
set -euo pipefail
out=${1:?usage: tools/train/retrain.sh CKPT_DIR}
export PYTHONUNBUFFERED=1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"
python3 "$here/train.py" --out "$out/stage1" 2>&1 | grep -v "Writing model" | tee "$out/stage1.log"
python3 "$here/train.py" --init "$out/stage1" --out "$out/stage2" 2>&1 |
  grep -v "Writing model\|Loading weights" | tee "$out/stage2.log"
if [[ -n "${OUT:-}" ]]; then
  tar -C "$out/stage2" -cf - . | split -b 15M - "$OUT/ckpt.tar."
  cp "$out/stage1.log" "$out/stage2.log" "$OUT/"
fi
