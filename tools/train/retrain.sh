#!/usr/bin/env bash
# tools/train/retrain.sh: retrain vigil's default model from nothing.
#
#   tools/train/retrain.sh CKPT_DIR [PACK_DIR]
#
# Run from the repository root on a machine with a CUDA GPU, python3, torch,
# transformers (5.x), sentencepiece, numpy and PIL. Runs both training stages
# (train.py, then train.py --init; about 10 minutes of training on one H200,
# tools/train/runs/) and leaves the final Hugging Face checkpoint in
# CKPT_DIR/stage2. With PACK_DIR, the checkpoint and both logs are also
# written there, the checkpoint as ckpt.tar.* parts of 15 MB, to copy to the
# machine that exports it:
#
#   cat ckpt.tar.* | tar -C CKPT -xf -
#   tools/train/env.sh python3 tools/train/export.py CKPT --out models/default
set -euo pipefail
out=${1:?usage: tools/train/retrain.sh CKPT_DIR [PACK_DIR]}
pack=${2:-}
export PYTHONUNBUFFERED=1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"
python3 "$here/train.py" --out "$out/stage1" 2>&1 | grep -v "Writing model" | tee "$out/stage1.log"
python3 "$here/train.py" --init "$out/stage1" --out "$out/stage2" 2>&1 |
  grep -v "Writing model\|Loading weights" | tee "$out/stage2.log"
if [[ -n "$pack" ]]; then
  mkdir -p "$pack"
  tar -C "$out/stage2" -cf - . | split -b 15M - "$pack/ckpt.tar."
  cp "$out/stage1.log" "$out/stage2.log" "$pack/"
fi
