"""Random-weight Qwen2-VL and Qwen2.5-VL pairs (tiny only), written with gguf-py.

Text model: arch "qwen2vl" (Qwen2 layers, q/k/v biases, M-RoPE with
rope.dimension_sections), a byte-level BPE vocabulary ("gpt2", pre "qwen2")
holding Qwen's control tokens, and Qwen2-VL's own Jinja chat template
(Qwen2.5-VL ships the same one).

mmproj: projector "qwen2vl_merger" (ViT with LayerNorm, 2-D M-RoPE inside,
a 2x2 patch merger MLP) or "qwen2.5vl_merger" (RMSNorm, SwiGLU, windowed
attention with every n_wa_pattern-th layer global). Keys and tensor names
are those the packaged converter writes (conversion/qwenvl.py): the
temporal Conv3D patch embedding is stored as two Conv2D kernels,
v.patch_embd.weight and v.patch_embd.weight.1; the merger's MLP is mm.0 and
mm.2; its ln_q is v.post_ln.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import gguf
from gguf import TokenType as TT

from weights import Weights, finish, ftype_of, mmproj_writer

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "tests" / "chat_templates" / "templates"

# Projector kind -> (gguf projector type, RMS norms + SwiGLU + windows?)
KINDS = {
    "qwen2vl": (gguf.VisionProjectorType.QWEN2VL, False),
    "qwen25vl": (gguf.VisionProjectorType.QWEN25VL, True),
}

TINY = dict(
    n_ctx=4096,
    text=dict(n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=256,
              # Qwen2-VL-7B: head_dim 128, sections [16, 24, 24]; same shares at 16
              mrope=[2, 3, 3, 0]),
    # 4 layers: Qwen2.5-VL's layers 1 and 3 are global (fullatt_block_indexes
    # [1, 3] -> n_wa_pattern 2), 0 and 2 windowed (112 px windows).
    vision=dict(n_embd=64, n_layer=4, n_head=4, n_ff=256, image_size=560, patch_size=14),
)

# Qwen's control tokens (real ids 151643..151656; ours follow the vocabulary).
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
            "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
            "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
            "<|image_pad|>", "<|video_pad|>"]

WORDS = """a the red green blue yellow orange purple black white gray brown pink
circle square triangle rectangle star line dot one two three four five six
zero yes no and or what is in this that image picture how many shapes shape
are there color colour colors object objects describe left right top bottom
center small large big of on with it i see an here has model user you
helpful assistant answer briefly compare pictures system""".split()

MU, CLOCK_GAIN, ANTI_TIE, LOOK = 0.5, 3.0, 0.5, 1.0  # as in make_vlm.py's gemma3


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (byte-level BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def build_bpe_vocab(specials: list[str] = SPECIALS) -> tuple[list[str], list[int], list[str], set[str]]:
    """Returns tokens, types, merges and the whole words (what the model should
    say); `specials` (control tokens) come last."""
    b2u = bytes_to_unicode()
    toks = [b2u[b] for b in range(256)]
    seen, merges = set(toks), []
    space, newline = b2u[ord(" ")], b2u[ord("\n")]
    forms = [f for w in WORDS for f in (w, space + w, w.capitalize(), space + w.capitalize())]
    forms += [newline + newline]
    for form in forms:
        # llama.cpp's BPE merges pairs by rank; a chain of prefix + character
        # merges makes every word reachable from its bytes.
        for n in range(2, len(form) + 1):
            if form[:n] not in seen:
                seen.add(form[:n])
                toks.append(form[:n])
                merges.append(f"{form[:n - 1]} {form[n - 1]}")
    words = {f for f in forms if f.startswith(space)}
    types = [int(TT.NORMAL)] * len(toks) + [int(TT.CONTROL)] * len(specials)
    return toks + specials, types, merges, words


@dataclass(frozen=True)
class TextFamily:
    """What differs between the byte-level BPE text models written here."""
    arch: str            # "qwen2vl" (q/k/v biases, M-RoPE) or "llama"
    pre: str             # tokenizer.ggml.pre
    specials: list[str]  # control tokens, after the BPE vocabulary
    eos: str
    bos: str
    template: str        # file in tests/chat_templates/templates
    rope_base: float


QWEN_TEXT = TextFamily("qwen2vl", "qwen2", SPECIALS, eos="<|im_end|>", bos="<|endoftext|>",
                       template="qwen2-vl.jinja", rope_base=1_000_000.0)


def write_text(path: Path, name: str, seed: int, family: TextFamily = QWEN_TEXT) -> None:
    cfg, t = TINY, TINY["text"]
    d, hd, nh, nkv, ff = t["n_embd"], t["head_dim"], t["n_head"], t["n_head_kv"], t["n_ff"]
    toks, types, merges, words = build_bpe_vocab(family.specials)
    nv = len(toks)
    qwen = family.arch == "qwen2vl"
    w = gguf.GGUFWriter(str(path), family.arch)
    w.add_name(name)
    w.add_description("random weights for vigil's tests (tools/modelgen); output is gibberish")
    w.add_file_type(ftype_of("f32"))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(cfg["n_ctx"])
    w.add_embedding_length(d)
    w.add_block_count(t["n_layer"])
    w.add_feed_forward_length(ff)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(family.rope_base)
    if qwen:
        w.add_rope_dimension_sections(t["mrope"])
    else:
        w.add_rope_dimension_count(hd)

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(family.pre)
    w.add_token_list(toks)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_eos_token_id(toks.index(family.eos))
    w.add_pad_token_id(toks.index(family.bos))
    w.add_bos_token_id(toks.index(family.bos))
    w.add_add_bos_token(False)
    w.add_chat_template((TEMPLATE_DIR / family.template).read_text())

    W = Weights(w, seed, "f32")
    # The gemma3 writer's recipe for varied, image-dependent greedy output
    # (make_vlm.py write_text): a constant "clock" coordinate 0 drives head
    # 0 to attend a fixed lag back through RoPE; other heads lean to images;
    # an untied head with a built-in repetition penalty. Qwen2 has no q/k
    # norm, so CLOCK_GAIN sets the head's sharpness instead.
    embd = W.draw("token_embd.weight", (nv, d), 0.2)
    embd[:, 0] = MU
    W.put("token_embd.weight", embd)
    theta = family.rope_base ** (-np.arange(hd // 2) * 2 / hd)
    phase = W.rng("clock").uniform(0, 2 * np.pi, hd // 2)
    for i in range(t["n_layer"]):
        p = f"blk.{i}."
        lag = 1 + i % 3
        q = W.draw(p + "attn_q.weight", (nh * hd, d), 1 / np.sqrt(d))
        k = W.draw(p + "attn_k.weight", (nkv * hd, d), 1 / np.sqrt(d))
        q[:hd], k[:hd] = 0, 0
        q[:hd, 0] = CLOCK_GAIN * np.concatenate([np.cos(phase), np.sin(phase)])
        k[:hd, 0] = CLOCK_GAIN * np.concatenate([np.cos(phase + lag * theta), np.sin(phase + lag * theta)])
        q[nh // nkv * hd + hd - 1::hd, 0] = LOOK
        k[hd + hd - 1::hd, 0] = -LOOK
        W.put(p + "attn_q.weight", q)
        W.put(p + "attn_k.weight", k)
        W.normal(p + "attn_v.weight", (nkv * hd, d), 1 / np.sqrt(d))
        if qwen:
            for n, rows in (("attn_q", nh * hd), ("attn_k", nkv * hd), ("attn_v", nkv * hd)):
                W.const(p + n + ".bias", (rows,), 0.0)
        o = W.draw(p + "attn_output.weight", (d, nh * hd), 1 / np.sqrt(nh * hd))
        o[0] = 0
        W.put(p + "attn_output.weight", o)
        W.normal(p + "ffn_gate.weight", (ff, d), 1 / np.sqrt(d))
        W.normal(p + "ffn_up.weight", (ff, d), 1 / np.sqrt(d))
        down = W.draw(p + "ffn_down.weight", (d, ff), 1 / np.sqrt(ff))
        down[0] = 0
        W.put(p + "ffn_down.weight", down)
        W.const(p + "attn_norm.weight", (d,), 1.0, 0.1)
        W.const(p + "ffn_norm.weight", (d,), 1.0, 0.1)
    W.const("output_norm.weight", (d,), 1.0, 0.1)
    head = W.draw("output.weight", (nv, d), 3 / np.sqrt(d))
    head[[i for i, tok in enumerate(toks) if tok not in words]] *= np.float32(0.2)
    head -= np.float32(ANTI_TIE) * embd
    head[:, 0] = 0
    W.put("output.weight", head)
    finish(w)


def write_mmproj(path: Path, name: str, kind: str, seed: int) -> None:
    v, d_text = TINY["vision"], TINY["text"]["n_embd"]
    d, ff, ps = v["n_embd"], v["n_ff"], v["patch_size"]
    projector, v25 = KINDS[kind]
    w = mmproj_writer(path, name, "f32", projector, v, d_text,
                      mean=[0.48145466, 0.4578275, 0.40821073],  # Qwen's preprocessor_config
                      std=[0.26862954, 0.26130258, 0.27577711])
    if v25:
        w.add_vision_use_silu(True)
        w.add_vision_n_wa_pattern(2)

    W = Weights(w, seed + 1, "f32")
    # Conv3D over 2 frames, split in time as the converter does; a still
    # image feeds both kernels the same pixels.
    for n in ("v.patch_embd.weight", "v.patch_embd.weight.1"):
        W.normal(n, (d, 3, ps, ps), 1 / np.sqrt(2 * 3 * ps * ps))

    def norm(name: str) -> None:
        W.const(name + ".weight", (d,), 1.0, 0.1)
        if not v25:  # LayerNorm has a bias, RMSNorm none
            W.const(name + ".bias", (d,), 0.0)

    def linear(name: str, rows: int, cols: int) -> None:
        W.normal(name + ".weight", (rows, cols), 1 / np.sqrt(cols))
        W.normal(name + ".bias", (rows,), 0.02)

    for i in range(v["n_layer"]):
        p = f"v.blk.{i}."
        norm(p + "ln1")
        norm(p + "ln2")
        for n in ("attn_q", "attn_k", "attn_v", "attn_out"):
            linear(p + n, d, d)
        linear(p + "ffn_up", ff, d)
        if v25:
            linear(p + "ffn_gate", ff, d)
        linear(p + "ffn_down", d, ff)
    norm("v.post_ln")  # the merger's ln_q
    linear("mm.0", 4 * d, 4 * d)
    # Text coordinate 0 is the LM's clock (write_text): images leave it alone.
    proj = W.draw("mm.2.weight", (d_text, 4 * d), 1 / np.sqrt(4 * d))
    proj[0] = 0
    W.put("mm.2.weight", proj)
    W.const("mm.2.bias", (d_text,), 0.0)
    finish(w)
