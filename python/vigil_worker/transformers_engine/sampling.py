"""Choosing the next token and turning tokens into text, as vigil's llama.cpp
worker does (src/worker/engine/llama_admit.cc MakeSampler, TokenToPiece).

- Greedy (temperature 0): the argmax. Otherwise top-k, then top-p, then
  temperature, then a draw from a torch generator seeded with the job's seed:
  the llama.cpp chain's order. The same seed gives the same text on this
  engine; it is not the llama.cpp engine's random stream.
- ignore_eos: end-of-generation tokens get -inf (llama.cpp's logit bias).
- End of generation: the checkpoint's eos ids plus the special tokens
  llama.cpp treats as end of turn by their text (llama-vocab.cpp), e.g.
  Gemma's <end_of_turn>.
- Text: only whole characters leave TextDelta; a token that ends inside a
  UTF-8 sequence (byte-fallback pieces) waits for the next one.

Thread-safety: one job's objects, one thread.
"""
from __future__ import annotations

from vigil_worker.engine import SamplingParams

# The end-of-turn texts llama.cpp recognises (llama-vocab.cpp, eot/eog detection).
EOG_TEXTS = ("<end_of_turn>", "<|eot_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>", "<EOT>",
             "<end_of_utterance>", "<|return|>", "<|call|>")


def end_of_generation_ids(tokenizer, config: dict) -> frozenset[int]:
    ids = set()
    for c in (config, config.get("text_config", {})):
        eos = c.get("eos_token_id")
        ids.update(eos if isinstance(eos, list) else [eos] if isinstance(eos, int) else [])
    for text in EOG_TEXTS + (tokenizer.eos_text,):
        i = tokenizer.token_id(text) if text else None
        if i is not None and i in tokenizer.special_ids:
            ids.add(i)
    return frozenset(ids)


class Sampler:
    def __init__(self, params: SamplingParams, eog: frozenset[int], n_vocab: int):
        import torch

        self.params = params
        self.bias = None
        if params.ignore_eos:
            self.bias = torch.zeros(n_vocab)
            self.bias[[i for i in eog if i < n_vocab]] = float("-inf")
        self.generator = None
        if params.temperature > 0:
            self.generator = torch.Generator().manual_seed(params.seed & 0xFFFFFFFFFFFFFFFF)

    def sample(self, logits) -> int:
        import torch

        logits = logits.float()
        if self.bias is not None:
            logits = logits + self.bias
        if self.generator is None:
            return int(torch.argmax(logits))
        p = self.params
        if p.top_k > 0:
            kth = torch.topk(logits, min(p.top_k, logits.numel())).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if p.top_p < 1:
            sorted_logits, order = torch.sort(logits, descending=True)
            cumulative = torch.softmax(sorted_logits, -1).cumsum(-1)
            drop = cumulative - torch.softmax(sorted_logits, -1) >= p.top_p  # keep the token that crosses top_p
            logits = logits.scatter(0, order[drop], float("-inf"))
        probs = torch.softmax(logits / p.temperature, -1)
        return int(torch.multinomial(probs, 1, generator=self.generator))


class TextDelta:
    """New text as tokens arrive: decodes all tokens so far and hands out what
    was not handed out yet, holding back a trailing partial character."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.sent = 0

    def add(self, token: int) -> str:
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):
            return ""
        new, self.sent = text[self.sent:], len(text)
        return new
