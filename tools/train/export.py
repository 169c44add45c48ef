#!/usr/bin/env python3
"""Convert a checkpoint from train.py into the GGUF pair vigil ships.

    tools/train/env.sh python3 tools/train/export.py CKPT --out models/default

writes OUT/vigil-shapes-text.gguf (arch gemma3) and
OUT/vigil-shapes-mmproj.gguf (clip, projector gemma3), both f16, with the
HF->GGUF converter that Debian packages with llama.cpp (needs torch: run it
in tools/train/env.sh). Two fixes around the converter, both seen with
transformers 5.x and the llama.cpp 0.7.0 converter:

- transformers 5 saves SigLIP weights as `vision_tower.embeddings...`; the
  converter's tensor map only knows `vision_tower.vision_model.embeddings...`.
  The checkpoint is copied with those keys renamed.
- gguf-py's SpecialVocab takes token ids from config.json only when they
  are plain ints (a list such as eos_token_id = [1, 6] is skipped) and finds
  none in tokenizer_config.json without a tokenizer.json. The copied
  config.json gets eos_token_id = <eos> and unk_token_id = <unk>; without an
  EOS id in the GGUF, llama.cpp reports <bos> as EOS. (<end_of_turn> is
  recognised as end-of-turn by its text.)
- The converter writes gemma3.attention.sliding_window from the config, and
  llama.cpp then applies Gemma 3's fixed 5-of-6 sliding-window layer pattern,
  ignoring the checkpoint's layer_types. The model was trained with every
  layer global, so the key is set to 0 (no sliding window) afterwards; that
  also keeps vigil's KV cache a plain one.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CONVERTER = "/usr/share/doc/llama.cpp-tools/scripts/convert_hf_to_gguf.py"
NAME = "vigil-shapes"
EOS_ID, UNK_ID = 1, 3  # tokenizer.py's <eos>, <unk>


def fixed_checkpoint(src: Path, dst: Path) -> None:
    from safetensors.numpy import load_file, save_file

    index = json.loads((src / "model.safetensors.index.json").read_text())
    new_map = {}
    for shard in sorted(set(index["weight_map"].values())):
        tensors = {}
        for k, v in load_file(str(src / shard)).items():
            if k.startswith("vision_tower.head."):
                continue
            if k.startswith("vision_tower.") and not k.startswith("vision_tower.vision_model."):
                k = "vision_tower.vision_model." + k[len("vision_tower."):]
            tensors[k] = v
            new_map[k] = shard
        save_file(tensors, str(dst / shard), metadata={"format": "pt"})
    index["weight_map"] = new_map
    (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    for f in src.iterdir():
        if f.suffix == ".json" and f.name != "model.safetensors.index.json" or f.suffix == ".model":
            shutil.copy(f, dst / f.name)
    config = json.loads((src / "config.json").read_text())
    for c in (config, config["text_config"]):
        c.update(eos_token_id=EOS_ID, unk_token_id=UNK_ID)
    (dst / "config.json").write_text(json.dumps(config, indent=1))


def convert(ckpt: Path, out: Path, mmproj: bool) -> None:
    cmd = [sys.executable, CONVERTER, str(ckpt), "--outfile", str(out), "--outtype", "f16",
           "--model-name", NAME]
    if mmproj:
        cmd.append("--mmproj")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-6000:])
        raise SystemExit(f"converter failed: {' '.join(cmd)}")


def set_sliding_window_zero(path: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(str(path), "r+")
    field = reader.get_field("gemma3.attention.sliding_window")
    if field is None:
        return
    field.parts[field.data[0]][0] = 0  # a u32 in the memory-mapped file
    reader.data.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ckpt", type=Path, help="train.py's --out directory")
    ap.add_argument("--out", type=Path, default=Path("models/default"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    text = args.out / f"{NAME}-text.gguf"
    mmproj = args.out / f"{NAME}-mmproj.gguf"
    with tempfile.TemporaryDirectory() as tmp:
        fixed = Path(tmp)
        fixed_checkpoint(args.ckpt, fixed)
        convert(fixed, text, mmproj=False)
        convert(fixed, mmproj, mmproj=True)
    set_sliding_window_zero(text)
    for p in (text, mmproj):
        print(f"{p}  {p.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
