"""Shared pieces of the model writers: seeded tensors and file finishing.

Seeding by tensor name (not one global stream) keeps every tensor's values
independent of the order and set of tensors written before it, so adding a
tensor to one architecture never changes the bytes of another.
"""
from __future__ import annotations

import hashlib

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT


class Weights:
    """Adds tensors to a writer, drawing each from its own seeded stream.

    Seeding by tensor name (not one global stream) keeps every tensor's values
    independent of the order and set of tensors written before it.
    """

    def __init__(self, writer: gguf.GGUFWriter, seed: int, dtype: str):
        self.w, self.seed, self.dtype = writer, seed, dtype

    def rng(self, name: str) -> np.random.Generator:
        h = int.from_bytes(hashlib.sha256(f"{self.seed}:{name}".encode()).digest()[:8], "little")
        return np.random.default_rng(h)

    def put(self, name: str, a: np.ndarray, keep: str | None = None) -> None:
        """keep: force "f32"/"f16" (norms, biases, positions stay f32 like the converter)."""
        dtype = keep or (self.dtype if a.ndim >= 2 else "f32")
        if dtype == "q8_0" and a.shape[-1] % 32:
            dtype = "f16"
        a = np.ascontiguousarray(a, dtype=np.float32)
        if dtype == "f32":
            self.w.add_tensor(name, a)
        elif dtype == "f16":
            self.w.add_tensor(name, a.astype(np.float16))
        else:
            q = gguf.quants.quantize(a, QT.Q8_0)
            self.w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=QT.Q8_0)

    def draw(self, name: str, shape: tuple[int, ...], std: float) -> np.ndarray:
        # numpy shape is ggml's ne reversed: (rows=out, cols=in) for a matmul weight
        return self.rng(name).standard_normal(shape, dtype=np.float32) * np.float32(std)

    def normal(self, name: str, shape: tuple[int, ...], std: float, **kw) -> None:
        self.put(name, self.draw(name, shape, std), **kw)

    def const(self, name: str, shape: tuple[int, ...], value: float, jitter: float = 0.0) -> None:
        a = np.full(shape, value, dtype=np.float32)
        if jitter:
            a += self.rng(name).standard_normal(shape, dtype=np.float32) * np.float32(jitter)
        self.put(name, a, keep="f32")


def ftype_of(dtype: str) -> int:
    return {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
            "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[dtype]


def mmproj_writer(path, name: str, dtype: str, projector, vision: dict, d_text: int,
                  mean: list[float], std: list[float]) -> gguf.GGUFWriter:
    """A GGUF writer for a vision projector ("clip") with the keys every
    projector type shares: vision tower shape (n_embd, n_ff, n_layer, n_head,
    image_size, patch_size), projection width, normalisation, LayerNorm eps."""
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_type(gguf.GGUFType.MMPROJ)
    w.add_name(name)
    w.add_file_type(ftype_of(dtype))
    w.add_clip_projector_type(projector)
    w.add_clip_has_vision_encoder(True)
    w.add_vision_projection_dim(d_text)
    w.add_vision_image_size(vision["image_size"])
    w.add_vision_patch_size(vision["patch_size"])
    w.add_vision_embedding_length(vision["n_embd"])
    w.add_vision_feed_forward_length(vision["n_ff"])
    w.add_vision_block_count(vision["n_layer"])
    w.add_vision_head_count(vision["n_head"])
    w.add_vision_image_mean(mean)
    w.add_vision_image_std(std)
    w.add_vision_attention_layernorm_eps(1e-6)
    return w


def siglip_tower(W: Weights, vision: dict, dtype: str) -> None:
    """The SigLIP vision tower (patch conv, learned positions, pre-norm ViT
    blocks with biases, post LayerNorm) that gemma3 and idefics3 share."""
    d, ff, ps = vision["n_embd"], vision["n_ff"], vision["patch_size"]
    n_pos = (vision["image_size"] // ps) ** 2
    # conv kernel (out, in=3, kh, kw); unit-variance output for [-1, 1] pixels
    W.normal("v.patch_embd.weight", (d, 3, ps, ps), 1 / np.sqrt(3 * ps * ps),
             keep="f32" if dtype == "f32" else "f16")
    W.const("v.patch_embd.bias", (d,), 0.0)
    W.normal("v.position_embd.weight", (n_pos, d), 0.1, keep="f32")
    for i in range(vision["n_layer"]):
        p = f"v.blk.{i}."
        for n in ("attn_q", "attn_k", "attn_v", "attn_out"):
            W.normal(p + n + ".weight", (d, d), 1 / np.sqrt(d))
            W.const(p + n + ".bias", (d,), 0.0)
        W.normal(p + "ffn_up.weight", (ff, d), 1 / np.sqrt(d))
        W.const(p + "ffn_up.bias", (ff,), 0.0)
        W.normal(p + "ffn_down.weight", (d, ff), 1 / np.sqrt(ff))
        W.const(p + "ffn_down.bias", (d,), 0.0)
        for n in ("ln1", "ln2"):
            W.const(p + n + ".weight", (d,), 1.0)
            W.const(p + n + ".bias", (d,), 0.0)
    W.const("v.post_ln.weight", (d,), 1.0)
    W.const("v.post_ln.bias", (d,), 0.0)


def finish(w: gguf.GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
