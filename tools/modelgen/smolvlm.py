"""A random-weight SmolVLM (Idefics3) pair, tiny only, written with gguf-py.

SmolVLM is the tiling kind of encoder: libmtmd first resizes a picture so
its longer side is clip.vision.preproc_image_size (upscaling small ones,
as transformers' Idefics3ImageProcessor does), cuts it into a grid of
image_size tiles plus one overview, and wraps each tile in
<fake_token_around_image><row_R_col_C> ... tokens. Every tile sees the
picture at that resolution, so a worker that shrank the picture first
would blur what the tiles see (the case tests/e2e/multi_image_test.py
checks against llama-server).

Text model: arch "llama" on qwen_vl.py's byte-level BPE vocabulary and
"clock" recipe, with SmolVLM's control tokens and chat template.
mmproj: projector "idefics3": SigLIP (weights.siglip_tower), pixel shuffle
by scale_factor, one linear layer mm.model.fc (names as the packaged
converter writes them).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import gguf

import qwen_vl
from weights import Weights, finish, mmproj_writer, siglip_tower

# SmolVLM's own control tokens (tokenizer_config.json), with the tile names
# libmtmd writes for grids up to 4 x 4.
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<fake_token_around_image>", "<image>",
            "<end_of_utterance>", "<global-img>"] + [f"<row_{r}_col_{c}>" for r in range(1, 5)
                                                     for c in range(1, 5)]

TEXT = qwen_vl.TextFamily("llama", "smollm", SPECIALS, eos="<end_of_utterance>", bos="<|im_start|>",
                          template="smolvlm.jinja", rope_base=100_000.0)

# 128-pixel tiles of 8 x 8 patches, shuffled 2 x 2: 16 tokens per tile; the
# longer side goes to 512 px, so up to 4 x 4 tiles and the overview.
VISION = dict(n_embd=64, n_layer=2, n_head=4, n_ff=256, image_size=128, patch_size=16,
              scale_factor=2, longest_edge=512)


def write_text(path: Path, name: str, seed: int) -> None:
    qwen_vl.write_text(path, name, seed, TEXT)


def write_mmproj(path: Path, name: str, seed: int) -> None:
    v, d_text = VISION, qwen_vl.TINY["text"]["n_embd"]
    d, s = v["n_embd"], v["scale_factor"]
    w = mmproj_writer(path, name, "f32", gguf.VisionProjectorType.IDEFICS3, v, d_text,
                      mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
    w.add_vision_use_gelu(True)
    w.add_vision_projector_scale_factor(s)
    w.add_vision_preproc_image_size(v["longest_edge"])
    W = Weights(w, seed + 1, "f32")
    siglip_tower(W, v, "f32")
    # Text coordinate 0 is the LM's clock (qwen_vl.write_text): images leave it alone.
    proj = W.draw("mm.model.fc.weight", (d_text, d * s * s), 1 / np.sqrt(d * s * s))
    proj[0] = 0
    W.put("mm.model.fc.weight", proj)
    finish(w)
