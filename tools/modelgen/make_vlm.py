#!/usr/bin/env python3
"""Write a random-weight vision-language model pair for vigil's tests.

    python3 tools/modelgen/make_vlm.py --size tiny  --out DIR
    python3 tools/modelgen/make_vlm.py --size bench --out DIR
    python3 tools/modelgen/make_vlm.py --size tiny --arch qwen2vl|qwen25vl|smolvlm --out DIR

writes DIR/vigil-<size>-text.gguf (arch "gemma3") and DIR/vigil-<size>-mmproj.gguf
(arch "clip", projector "gemma3": a SigLIP ViT, avg-pool, RMS norm, linear);
with --arch, DIR/vigil-tiny-<arch>-{text,mmproj}.gguf (qwen_vl.py, smolvlm.py).
Only python3-gguf and numpy are used, so it runs where torch and a model hub
do not exist. Output is byte-identical for the same arguments: a fixed seed
per tensor and no timestamps (GGUFWriter writes none).

The weights are noise; the model answers gibberish, but it exercises the real
libllama/libmtmd code paths (tokenizer, chat template, image encode, decode).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import gguf
from gguf import TokenType as TT

import qwen_vl
import smolvlm
from weights import Weights, finish, siglip_tower, ftype_of, mmproj_writer

# Dimensions. tiny: loads in milliseconds, for unit/e2e tests. bench: the shape
# of SmolVLM-256M (576 x 30 text, 768 x 12 SigLIP at 512 px, 64 image tokens)
# so timings resemble a real small VLM.
SIZES = {
    "tiny": dict(
        dtype="f32", vocab=0, n_ctx=4096,
        text=dict(n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=256),
        vision=dict(n_embd=64, n_layer=2, n_head=4, n_ff=256,
                    image_size=64, patch_size=16, n_merge=1),  # 4x4 = 16 image tokens
    ),
    "bench": dict(
        dtype="f16", vocab=49152, n_ctx=8192,
        text=dict(n_embd=576, n_layer=30, n_head=9, n_head_kv=3, head_dim=64, n_ff=1536),
        vision=dict(n_embd=768, n_layer=12, n_head=12, n_ff=3072,
                    image_size=512, patch_size=16, n_merge=4),  # 32/4 -> 8x8 = 64 image tokens
    ),
}

# ---------------------------------------------------------------- tokenizer --

# Gemma's control tokens, spelled as the gemma3 converter writes them. The ids
# are ours (the real ones are 0..3, 105, 106, 255999, 256000, 262144), kept low
# so the vocabulary stays small.
SPECIALS = [
    ("<pad>", TT.CONTROL), ("<eos>", TT.CONTROL), ("<bos>", TT.CONTROL),
    ("<unk>", TT.UNKNOWN), ("<mask>", TT.CONTROL),
    ("<start_of_turn>", TT.CONTROL), ("<end_of_turn>", TT.CONTROL),
    ("<start_of_image>", TT.CONTROL), ("<end_of_image>", TT.CONTROL),
    ("<image_soft_token>", TT.CONTROL),
]
PAD_ID, EOS_ID, BOS_ID, UNK_ID = 0, 1, 2, 3
EOT_ID = 6  # <end_of_turn>

WORDS = """a the red green blue yellow orange purple black white gray brown pink
circle square triangle rectangle star line dot one two three four five six
zero yes no and or what is in this that image picture how many shapes shape
are there color colour colors object objects describe left right top bottom
center small large big of on with it i see an here has two model user""".split()
CAPITALISED = "what how is describe the this there yes no i it a are".split()

SPACE = "\u2581"  # SentencePiece's visible space

# Initialisation knobs, see write_text(); picked by a sweep for varied,
# image-dependent greedy output.
MU = 0.5        # the clock coordinate of token embeddings
QK_NORM = 4.0   # q/k norm weight: attention sharpness
ANTI_TIE = 0.5  # share of the token embedding subtracted from the head
LOOK = 1.0      # pull of the other heads towards image tokens


def build_vocab(pad_to: int) -> tuple[list[str], list[float], list[int], set[str]]:
    """Returns tokens, scores, types and the whole words (what the model should say)."""
    toks: list[str] = [t for t, _ in SPECIALS]
    types: list[int] = [int(k) for _, k in SPECIALS]
    scores: list[float] = [-1000.0] * len(SPECIALS)
    seen = set(toks)

    def add(text: str, kind: int, score: float) -> None:
        if text not in seen:
            seen.add(text)
            toks.append(text)
            types.append(int(kind))
            scores.append(score)

    # byte fallback: anything not covered below still tokenizes
    for b in range(256):
        add(f"<0x{b:02X}>", TT.BYTE, 0.0)
    for s in (SPACE, "\n", "\n\n"):
        add(s, TT.NORMAL, -1.0)
    for c in range(0x21, 0x7F):
        add(chr(c), TT.NORMAL, -2.0)
    # llama.cpp's SPM tokenizer only merges adjacent pieces whose concatenation
    # is itself a token, so every prefix of a word must exist for the whole
    # word to be reachable. Longer pieces score higher, so they win.
    forms = [f for w in WORDS for f in (w, SPACE + w)]
    forms += [f for w in CAPITALISED for f in (w.capitalize(), SPACE + w.capitalize())]
    words = {f for f in forms if f.startswith(SPACE)}
    for form in forms:
        for n in range(2, len(form) + 1):
            add(form[:n], TT.NORMAL, float(n))
    # bench: pad to a realistic vocabulary so the output head costs what a
    # real one does; the fillers are plain words so generated text stays printable
    i = 0
    while len(toks) < pad_to:
        add(f"{SPACE}w{i}", TT.NORMAL, -10.0)
        words.add(toks[-1])
        i += 1
    return toks, scores, types, words


# Gemma 3's template (the image item renders as <start_of_image>, which is also
# what libmtmd wraps around each image). It contains "<start_of_turn>", so
# llama_chat_apply_template's built-in detection picks its "gemma" format too.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}"
    "{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] | trim }}"
    "{%- elif message['content'] is iterable -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- else -%}"
    "{{ raise_exception('Invalid content type') }}"
    "{%- endif -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

# ------------------------------------------------------------------ weights --


def write_text(path: Path, name: str, cfg: dict, dtype: str, seed: int, swa: int) -> None:
    t = cfg["text"]
    d, hd, nh, nkv, ff = t["n_embd"], t["head_dim"], t["n_head"], t["n_head_kv"], t["n_ff"]
    toks, scores, types, words = build_vocab(cfg["vocab"])
    nv = len(toks)

    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_name(name)
    w.add_description("random weights for vigil's tests (tools/modelgen); output is gibberish")
    w.add_file_type(ftype_of(dtype))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(cfg["n_ctx"])
    w.add_embedding_length(d)
    w.add_block_count(t["n_layer"])
    w.add_feed_forward_length(ff)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(1_000_000.0)
    # 0 = no sliding window: every layer is global, so the KV cache is a plain
    # one (partial sequence removal / prefix reuse work) rather than an SWA one.
    w.add_sliding_window(swa)

    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(BOS_ID)
    w.add_eos_token_id(EOS_ID)
    w.add_eot_token_id(EOT_ID)
    w.add_unk_token_id(UNK_ID)
    w.add_pad_token_id(PAD_ID)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)
    w.add_chat_template(CHAT_TEMPLATE)

    W = Weights(w, seed, dtype)
    # A random model with a tied head repeats its input token forever; these
    # choices make greedy output wander and depend on the image instead.
    # 1. Coordinate 0 of every text token's residual is a constant ("clock"):
    #    embeddings hold MU there, and no layer or image embedding writes to
    #    it. Head 0 of each layer reads only that coordinate for q and k, so
    #    after q/k-norm both are fixed vectors and RoPE alone sets the score:
    #    k is q rotated by `lag` positions, so the head attends `lag` tokens
    #    back. The next token then depends on the last few tokens, not just
    #    the current one, which makes greedy cycles long instead of 1-3 words.
    # 2. The heads of the other kv groups are random, but the clock also
    #    pushes text-to-text scores down (LOOK), so they read image tokens.
    # 3. The output head is untied (a tied head maps a token to itself), has
    #    logit std ~3 so temperature-1 sampling is not flat, and subtracts a
    #    share of the token embedding: a built-in repetition penalty.
    embd = W.draw("token_embd.weight", (nv, d), 0.2)
    embd[:, 0] = MU
    W.put("token_embd.weight", embd)
    theta = 1_000_000.0 ** (-np.arange(hd // 2) * 2 / hd)  # NEOX pair p: dims (p, p + hd/2)
    phase = W.rng("clock").uniform(0, 2 * np.pi, hd // 2)
    for i in range(t["n_layer"]):
        p = f"blk.{i}."
        lag = 1 + i % 3
        q = W.draw(p + "attn_q.weight", (nh * hd, d), 1 / np.sqrt(d))
        k = W.draw(p + "attn_k.weight", (nkv * hd, d), 1 / np.sqrt(d))
        q[:hd], k[:hd] = 0, 0
        q[:hd, 0] = np.concatenate([np.cos(phase), np.sin(phase)])
        k[:hd, 0] = np.concatenate([np.cos(phase + lag * theta), np.sin(phase + lag * theta)])
        # other kv groups: text queries get +LOOK and text keys -LOOK on the
        # slowest RoPE dim (barely rotated), so text-to-text scores drop
        q[nh // nkv * hd + hd - 1::hd, 0] = LOOK
        k[hd + hd - 1::hd, 0] = -LOOK
        W.put(p + "attn_q.weight", q)
        W.put(p + "attn_k.weight", k)
        W.normal(p + "attn_v.weight", (nkv * hd, d), 1 / np.sqrt(d))
        o = W.draw(p + "attn_output.weight", (d, nh * hd), 1 / np.sqrt(nh * hd))
        o[0] = 0  # keep the clock coordinate constant
        W.put(p + "attn_output.weight", o)
        W.normal(p + "ffn_gate.weight", (ff, d), 1 / np.sqrt(d))
        W.normal(p + "ffn_up.weight", (ff, d), 1 / np.sqrt(d))
        down = W.draw(p + "ffn_down.weight", (d, ff), 1 / np.sqrt(ff))
        down[0] = 0
        W.put(p + "ffn_down.weight", down)
        # gemma norms multiply by the stored weight (the converter has already
        # added gemma's +1); around 1 keeps activations at unit scale
        for n in ("attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"):
            W.const(p + n + ".weight", (d,), 1.0, 0.1)
        # sharp attention: ~95% of head 0 lands on the lagged token
        W.const(p + "attn_q_norm.weight", (hd,), QK_NORM)
        W.const(p + "attn_k_norm.weight", (hd,), QK_NORM)
    W.const("output_norm.weight", (d,), 1.0, 0.1)
    head = W.draw("output.weight", (nv, d), 3 / np.sqrt(d))
    # Shrink the rows of everything but whole words (control and EOG tokens,
    # byte fallbacks, word prefixes): output reads as words, stays valid
    # UTF-8, and runs to the token limit rather than stopping at random.
    head[[i for i, t in enumerate(toks) if t not in words]] *= np.float32(0.2)
    head -= np.float32(ANTI_TIE) * embd
    head[:, 0] = 0  # the clock would only add a fixed bias per token
    W.put("output.weight", head)
    finish(w)


def write_mmproj(path: Path, name: str, cfg: dict, dtype: str, seed: int) -> None:
    v, d_text = cfg["vision"], cfg["text"]["n_embd"]
    d = v["n_embd"]

    w = mmproj_writer(path, name, dtype, gguf.VisionProjectorType.GEMMA3, v, d_text,
                      mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
    w.add_vision_use_gelu(True)
    if v["n_merge"] != 4:  # libmtmd's gemma3 default is 4, as the converter assumes
        w.add_vision_projector_scale_factor(v["n_merge"])

    W = Weights(w, seed + 1, dtype)
    siglip_tower(W, v, dtype)
    W.const("mm.soft_emb_norm.weight", (d,), 1.0)
    # stored (vision, text) like HF's mm_input_projection_weight; libmtmd
    # transposes it. Text coordinate 0 is the LM's clock (see write_text), so
    # images leave it at 0. Kept f16 in quantized files, like the converter.
    proj = W.draw("mm.input_projection.weight", (d, d_text), 1 / np.sqrt(d))
    proj[:, 0] = 0
    W.put("mm.input_projection.weight", proj, keep="f32" if dtype == "f32" else "f16")
    finish(w)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), required=True)
    ap.add_argument("--arch", choices=["gemma3", *sorted(qwen_vl.KINDS), "smolvlm"], default="gemma3",
                    help="gemma3 (default), qwen2vl, qwen25vl or smolvlm (tiny only, f32)")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--dtype", choices=["f32", "f16", "q8_0"],
                    help="matrix type (default: f32 for tiny, f16 for bench)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--sliding-window", type=int, default=0,
                    help="gemma3 sliding window (0 = off; real gemma3 uses 512 or 1024)")
    args = ap.parse_args()

    cfg = SIZES[args.size]
    dtype = args.dtype or cfg["dtype"]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.arch != "gemma3":
        if args.size != "tiny" or args.dtype not in (None, "f32"):
            ap.error(f"--arch {args.arch} is written at --size tiny in f32 only")
        base = f"vigil-tiny-{args.arch}"
        text, mmproj = args.out / f"{base}-text.gguf", args.out / f"{base}-mmproj.gguf"
        if args.arch == "smolvlm":
            smolvlm.write_text(text, base, args.seed)
            smolvlm.write_mmproj(mmproj, base + "-mmproj", args.seed)
        else:
            qwen_vl.write_text(text, base, args.seed)
            qwen_vl.write_mmproj(mmproj, base + "-mmproj", args.arch, args.seed)
    else:
        base = f"vigil-{args.size}"
        text, mmproj = args.out / f"{base}-text.gguf", args.out / f"{base}-mmproj.gguf"
        write_text(text, base, cfg, dtype, args.seed, args.sliding_window)
        write_mmproj(mmproj, base + "-mmproj", cfg, dtype, args.seed)
    for p in (text, mmproj):
        print(f"{p}  {p.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
