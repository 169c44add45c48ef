#!/usr/bin/env python3
"""Build the model's SentencePiece tokenizer and the prompt layout shared by
training and serving.

    python3 tools/train/tokenizer.py --out tools/train/tokenizer    # needs sentencepiece

writes tokenizer.model (a SentencePiece BPE model, ~600 pieces, byte
fallback) plus the HF side files the GGUF converter reads:
tokenizer_config.json (the Gemma special tokens as added_tokens_decoder, the
chat template) and special_tokens_map.json. The output is committed, so
training does not depend on SentencePiece's trainer being bit-stable.

Why BPE and no dummy prefix: llama.cpp's "llama" (SPM) tokenizer merges
adjacent pieces by score, which is SentencePiece's BPE algorithm (not its
unigram one), and the gemma3 converter sets add_space_prefix = false. With
the same vocabulary both then split any text the same way; check.py verifies
this against llama-tokenize for every training prompt.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes  # noqa: E402

# Gemma's control tokens with Gemma's first ids (0..3), then ours.
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>",
            "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
PAD, EOS, BOS, UNK, MASK, SOT, EOT, BOI, EOI, IMG = range(len(SPECIALS))
VOCAB_SIZE = 640

# Gemma 3's chat template (as in tools/modelgen/make_vlm.py); it contains
# "<start_of_turn>", so llama_chat_apply_template detects the "gemma" format.
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


def all_questions() -> list[str]:
    """Every template filled with every colour and shape, in the case forms
    users type; the tokenizer learns whole words from these."""
    out = []
    for qtype, temps in shapes.TEMPLATES.items():
        for t in temps:
            for s in shapes.SHAPES:
                for c in shapes.COLOR_NAMES:
                    q = shapes.fill(t, s, c)
                    out += [q, q.lower(), q.upper(), q.rstrip("?."), q.lower().rstrip("?.")]
    return sorted(set(out))


def corpus(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines = all_questions()
    for _ in range(3000):
        objs = shapes.random_scene(rng).objects
        lines.append(shapes.describe(objs))
    lines += shapes.NUMBERS + shapes.COLOR_NAMES + shapes.SHAPES + ["yes", "no", "user", "model"]
    return lines


def train(out: Path) -> None:
    import sentencepiece as spm

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "corpus.txt"
        text.write_text("\n".join(corpus()) + "\n")
        spm.SentencePieceTrainer.train(
            input=str(text), model_prefix=str(out / "tokenizer"), model_type="bpe",
            vocab_size=VOCAB_SIZE, hard_vocab_limit=False, byte_fallback=True,
            character_coverage=1.0, add_dummy_prefix=False, remove_extra_whitespaces=False,
            normalization_rule_name="identity", split_digits=True, num_threads=1,
            pad_id=PAD, eos_id=EOS, bos_id=BOS, unk_id=UNK,
            pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
            control_symbols=SPECIALS[4:], user_defined_symbols=["\n"],
            minloglevel=2)
    (out / "tokenizer.vocab").unlink(missing_ok=True)
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    assert [sp.id_to_piece(i) for i in range(len(SPECIALS))] == SPECIALS
    decoder = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                        "single_word": False, "special": True} for i, t in enumerate(SPECIALS)}
    config = {
        "tokenizer_class": "GemmaTokenizer", "add_bos_token": True, "add_eos_token": False,
        "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
        "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>", "added_tokens_decoder": decoder,
        "chat_template": CHAT_TEMPLATE, "model_max_length": 1024,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")
    smap = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
    (out / "special_tokens_map.json").write_text(json.dumps(smap, indent=1) + "\n")
    print(f"{out}/tokenizer.model: {sp.get_piece_size()} pieces")


# ------------------------------------------------- the prompt, as served --


def prompt_ids(sp, question: str, n_image: int, layout: str = "vigil") -> list[int]:
    """Token ids of one user turn with an image, as llama.cpp builds them.

    vigil puts the image marker, a newline, then the question in the Gemma
    turn; libmtmd swaps the marker for <start_of_image>, n_image embeddings
    and <end_of_image>, and tokenizes each text piece on its own (BOS only on
    the first). Other clients (llama-server's Jinja path) may put the image
    right before or after the text, so training mixes those layouts too.
    IMG marks where the image embeddings go.
    """
    q = question.strip()
    image = [BOI] + [IMG] * n_image + [EOI]
    head = [BOS, SOT] + sp.encode("user\n")
    if layout == "vigil":
        user = image + sp.encode("\n" + q)
    elif layout == "tight":
        user = image + sp.encode(q)
    elif layout == "after":
        user = sp.encode(q) + image
    elif layout == "after_nl":
        user = sp.encode(q + "\n") + image
    else:
        raise ValueError(layout)
    return head + user + [EOT] + sp.encode("\n") + [SOT] + sp.encode("model\n")


def answer_ids(sp, answer: str) -> list[int]:
    return sp.encode(answer) + [EOT]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "tokenizer")
    train(ap.parse_args().out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
