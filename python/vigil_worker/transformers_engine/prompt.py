"""From a job's conversation to token ids, exactly as vigil's llama.cpp worker
builds them (src/worker/engine/llama_prompt.cc, then libmtmd's tokenizer), so
that the same checkpoint gives the same greedy answers behind either engine.

The steps, each as the llama.cpp worker does it:
1. Each message's parts become one string: text parts and images (a marker)
   joined by "\\n", with no "\\n" next to a marker; or a list of typed parts
   when the chat template does not print a plain-string content (probed once).
   A job without messages is one user turn: every image, then the prompt.
2. The model's own chat template (tokenizer_config.json) renders them, with
   transformers' Jinja renderer; a leading BOS text is dropped when the
   tokenizer adds BOS itself (llama-server does the same).
3. The text is cut at each marker; each piece is tokenized on its own, special
   tokens parsed, BOS before the first (libmtmd's order). Each marker becomes
   the image's block: <start_of_image>, mm_tokens_per_image image tokens,
   <end_of_image> (libmtmd's wrapping for Gemma 3).

Errors: BadInputError (invalid_request) for a prompt holding the reserved
marker, a template that refuses the conversation, or a marker count that does
not match the images. Thread-safety: immutable after construction.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from vigil_worker.engine import ContentPart, Message
from vigil_worker.errors import BadInputError, LoadError

# libmtmd's default marker; the llama.cpp worker refuses prompts containing it.
MARKER = "<__media__>"
_PROBE = "<vigil-probe-7f3a>"


class SpecialTokenizer:
    """A SentencePiece model plus the checkpoint's special tokens: what
    llama.cpp's tokenizer does with parse_special, split the text at each
    special token's text first, then tokenize the rest with SentencePiece.
    Hand-written glue because transformers 5 builds a Gemma tokenizer only
    through the protobuf library (absent here) or a tokenizer.json (not in
    the checkpoint); sentencepiece itself reads tokenizer.model directly.
    """

    def __init__(self, checkpoint: Path):
        import sentencepiece as spm

        model = checkpoint / "tokenizer.model"
        config_path = checkpoint / "tokenizer_config.json"
        if not model.is_file() or not config_path.is_file():
            raise LoadError("%s has no tokenizer.model and tokenizer_config.json" % checkpoint)
        self.sp = spm.SentencePieceProcessor(model_file=str(model))
        self.config = json.loads(config_path.read_text())
        specials = {int(i): t["content"] for i, t in self.config.get("added_tokens_decoder", {}).items()}
        self.special_ids = set(specials)
        # Longest first, so a special token that contains another wins.
        self._specials = sorted(((text, i) for i, text in specials.items()), key=lambda p: -len(p[0]))
        self.bos_text = self._token_text(self.config.get("bos_token"))
        self.eos_text = self._token_text(self.config.get("eos_token"))
        self.bos_id = self.sp.piece_to_id(self.bos_text) if self.bos_text else None
        self.add_bos = bool(self.config.get("add_bos_token", True)) and self.bos_id is not None
        self.add_eos = bool(self.config.get("add_eos_token", False))
        self.vocab_size = self.sp.get_piece_size()

    @staticmethod
    def _token_text(token) -> str:
        return token.get("content", "") if isinstance(token, dict) else (token or "")

    def token_id(self, text: str) -> int | None:
        for t, i in self._specials:
            if t == text:
                return i
        i = self.sp.piece_to_id(text)
        return None if i == self.sp.unk_id() and text != self.sp.id_to_piece(i) else i

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, special tokens parsed, no BOS."""
        ids: list[int] = []
        start = 0
        while start < len(text):
            hit = self._next_special(text, start)
            end = hit[0] if hit else len(text)
            if end > start:
                ids += self.sp.encode(text[start:end])
            if not hit:
                break
            ids.append(hit[2])
            start = hit[0] + len(hit[1])
        return ids

    def _next_special(self, text: str, start: int) -> tuple[int, str, int] | None:
        best = None
        for special, i in self._specials:
            at = text.find(special, start)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, special, i)
        return best

    def decode(self, ids: Sequence[int]) -> str:
        """The text of generated tokens; control tokens print nothing (as
        llama.cpp's token_to_piece without `special`)."""
        return self.sp.decode([i for i in ids if i not in self.special_ids])


class ChatPrompt:
    """Renders a job's conversation with the checkpoint's chat template and
    tokenizes it as libmtmd does. `image_block` is the token ids one image
    takes; its `image_token` placeholders are filled with embeddings."""

    def __init__(self, tokenizer: SpecialTokenizer, image_block: list[int], image_token: int):
        from transformers.utils.chat_template_utils import render_jinja_template

        self._render_jinja = render_jinja_template
        self.tokenizer = tokenizer
        self.image_block = image_block
        self.image_token = image_token  # the block's placeholders for embeddings
        self.template = tokenizer.config.get("chat_template")
        if not isinstance(self.template, str) or not self.template:
            raise LoadError("tokenizer_config.json has no chat_template")
        try:
            plain = self._render([{"role": "user", "content": _PROBE}], add_generation_prompt=False)
            self.typed_content = _PROBE not in plain
        except Exception:  # noqa: BLE001 - any template failure means "wants typed parts"
            self.typed_content = True

    def _render(self, messages: list[dict], add_generation_prompt: bool) -> str:
        out = self._render_jinja([messages], chat_template=self.template,
                                 add_generation_prompt=add_generation_prompt,
                                 bos_token=self.tokenizer.bos_text, eos_token=self.tokenizer.eos_text)
        text = out[0] if isinstance(out, tuple) else out
        return text[0] if isinstance(text, list) else text

    def text(self, prompt: str, messages: Sequence[Message], n_images: int) -> str:
        """The rendered prompt, images as MARKER (llama_prompt.cc FormatPrompt)."""
        if not messages:
            parts = tuple([ContentPart("image")] * n_images + [ContentPart("text", prompt)])
            messages = (Message("user", parts),)
        rendered = []
        for m in messages:
            joined, typed, after_image = "", [], False
            for part in m.content:
                image = part.type == "image"
                if not image and MARKER in part.text:
                    raise BadInputError("prompt contains the reserved marker " + MARKER)
                text = MARKER if image else part.text
                if joined and not image and not after_image:
                    joined += "\n"
                after_image = image
                joined += text
                typed.append({"type": "media_marker" if image else "text", "text": text})
            rendered.append({"role": m.role, "content": typed if self.typed_content else joined})
        try:
            text = self._render(rendered, add_generation_prompt=True)
        except Exception as e:  # noqa: BLE001 - raise_exception() in a template: the conversation's fault
            raise BadInputError("the chat template refused the conversation: %s" % e) from e
        tk = self.tokenizer
        if tk.add_bos and tk.bos_text and text.startswith(tk.bos_text):
            text = text[len(tk.bos_text):]
        if tk.add_eos and tk.eos_text and text.endswith(tk.eos_text):
            text = text[:-len(tk.eos_text)]
        return text

    def ids(self, text: str, n_images: int) -> tuple[list[int], list[bool]]:
        """Token ids of a rendered prompt, each MARKER replaced by an image
        block, and which positions take image embeddings. Marked by position,
        not by id: a user who types the image token's text gets that token's
        plain embedding, as with llama.cpp, and cannot shift the images."""
        pieces = text.split(MARKER)
        if len(pieces) - 1 != n_images:
            raise BadInputError("image count does not match the prompt")
        ids = [self.tokenizer.bos_id] if self.tokenizer.add_bos else []
        is_image = [False] * len(ids)
        for i, piece in enumerate(pieces):
            if i:
                ids += self.image_block
                is_image += [t == self.image_token for t in self.image_block]
            text_ids = self.tokenizer.encode(piece)
            ids += text_ids
            is_image += [False] * len(text_ids)
        return ids, is_image
