"""TransformersEngine: a Hugging Face vision-language checkpoint run on the CPU
with transformers and torch, behind vigil's supervisor.

    vigil serve --worker-command 'python3 -m vigil_worker.transformers_engine --checkpoint DIR'

Supported checkpoints: Gemma 3 style image-text-to-text models (vigil's
default model, models/default/hf/, is one): an image is mm_tokens_per_image
embeddings between <start_of_image> and <end_of_image>, the tokenizer is a
SentencePiece tokenizer.model with tokenizer_config.json (chat template,
special tokens), the image processor is preprocessor_config.json. Anything
else fails to load with a typed LoadError.

One job at a time (capacity 1), as a plain greedy/sampling loop over the
model's forward with a KV cache (not `generate`), so that every phase is a
separate call: the heartbeat phase is exact, cancel is seen between images and
between tokens, and each token is yielded the moment it is sampled.

Greedy jobs compute what vigil's llama.cpp worker computes: the prompt is
built token for token as it builds it (prompt.py), image tokens attend to
their whole image block both ways (libmtmd's non-causal image decode; Gemma 3's
token_type_ids here), generation stops at an end-of-generation token, and the
text is the tokens' pieces without control tokens.

Errors: LoadError (missing or unsupported checkpoint), OutOfMemoryError (torch
cannot allocate, at load or in a job); per job PromptTooLongError,
InvalidImageError, BadInputError. Thread-safety: the runtime's main thread only.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from vigil_worker.engine import Engine, Job, ModelInfo, Token, WorkerConfig
from vigil_worker.errors import BadInputError, LoadError, OutOfMemoryError, PromptTooLongError
from vigil_worker.transformers_engine import images as image_path
from vigil_worker.transformers_engine.prompt import ChatPrompt, SpecialTokenizer
from vigil_worker.transformers_engine.sampling import Sampler, TextDelta, end_of_generation_ids

# What torch's allocators say when memory runs out (CPU: c10's
# DefaultCPUAllocator; CUDA raises torch.OutOfMemoryError).
_OOM_MARKS = ("can't allocate memory", "not enough memory", "out of memory", "Cannot allocate memory")


def is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(e, RuntimeError) and any(m in str(e) for m in _OOM_MARKS))


class TransformersEngine(Engine):
    name = "transformers"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--checkpoint", default="",
                            help="Hugging Face checkpoint directory (default: --model when it is a directory)")

    # ------------------------------------------------------------------ load --

    def load(self, config: WorkerConfig, advance: Callable[[], None]) -> ModelInfo:
        checkpoint = Path(getattr(config.args, "checkpoint", "") or config.model)
        if not (checkpoint / "config.json").is_file():
            raise LoadError("%s is not a Hugging Face checkpoint (no config.json)" % checkpoint)
        try:
            return self._load(checkpoint, config, advance)
        except (LoadError, OutOfMemoryError):
            raise
        except Exception as e:  # noqa: BLE001 - any library failure at load is typed here
            if is_oom(e):
                raise OutOfMemoryError("out of memory loading %s: %s" % (checkpoint, e)) from e
            raise LoadError("cannot load %s: %s: %s" % (checkpoint, type(e).__name__, e)) from e

    def _load(self, checkpoint: Path, config: WorkerConfig, advance: Callable[[], None]) -> ModelInfo:
        import torch
        from transformers import AutoImageProcessor, AutoModelForImageTextToText

        if config.threads > 0:
            torch.set_num_threads(config.threads)
        cfg = json.loads((checkpoint / "config.json").read_text())
        missing = [k for k in ("image_token_index", "boi_token_index", "eoi_token_index", "mm_tokens_per_image")
                   if k not in cfg]
        if missing:
            raise LoadError("%s: unsupported model (%s; config lacks %s)" %
                            (checkpoint, cfg.get("model_type", "?"), ", ".join(missing)))
        self.tokenizer = SpecialTokenizer(checkpoint)
        advance()
        self.image_token = cfg["image_token_index"]
        block = [cfg["boi_token_index"]] + [self.image_token] * cfg["mm_tokens_per_image"] + [cfg["eoi_token_index"]]
        self.prompt = ChatPrompt(self.tokenizer, block, self.image_token)
        self.processor = AutoImageProcessor.from_pretrained(checkpoint)
        advance()
        self.model = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype=torch.float32).eval()
        advance()
        self.eog = end_of_generation_ids(self.tokenizer, cfg)
        self.image_size = int(cfg.get("vision_config", {}).get("image_size", 0))
        self.n_ctx = config.ctx
        text_cfg = cfg.get("text_config", {})
        return ModelInfo(
            name=config.model_name or checkpoint.name, arch=cfg.get("model_type", ""),
            n_ctx=config.ctx, n_ctx_train=int(text_cfg.get("max_position_embeddings", 0)),
            image_size=self.image_size, n_params=sum(p.numel() for p in self.model.parameters()),
            device="CPU", chat_template="hf", capacity=1)

    # ------------------------------------------------------------------- job --

    def generate(self, job: Job) -> Iterator[Token]:
        try:
            yield from self._generate(job)
        except Exception as e:  # noqa: BLE001 - torch failures are typed or re-raised
            if is_oom(e):
                raise OutOfMemoryError("out of memory in job %d: %s" % (job.id, e)) from e
            raise

    def _generate(self, job: Job) -> Iterator[Token]:
        import torch

        job.phase("image_decode")
        pictures = []
        for i, data in enumerate(job.images):
            picture = image_path.decode(data, self.image_size)
            job.report_image(i, picture.width, picture.height)
            pictures.append(picture)
            job.advance()
        ids, is_image = self.prompt.ids(self.prompt.text(job.prompt, job.messages, len(pictures)), len(pictures))
        resume = list(job.resume_tokens)
        if any(t < 0 or t >= self.tokenizer.vocab_size for t in resume):
            raise BadInputError("resume token out of the vocabulary")
        if len(ids) + len(resume) >= self.n_ctx:  # room for one more, as the llama.cpp worker
            raise PromptTooLongError("prompt is %d tokens; the context holds %d" % (len(ids), self.n_ctx))
        job.prompt_tokens = len(ids)
        with torch.inference_mode():
            features = self._encode(job, pictures)
            if features is None:  # cancelled
                return
            job.phase("prefill")
            job.progress("prefill", 0, len(ids))
            logits, cache = self._prefill(ids + resume, is_image + [False] * len(resume), features)
            job.progress("prefill", len(ids), len(ids))
            job.phase("decode")
            yield from self._decode(job, logits, cache, len(ids), resume)

    def _encode(self, job: Job, pictures: list):
        """Image embeddings, one image per call; None when the job is cancelled
        between two of them."""
        import torch

        if not pictures:
            return torch.empty(0)
        job.phase("image_encode")
        pixel_values = self.processor(images=pictures, return_tensors="pt")["pixel_values"]
        features = []
        for i in range(len(pictures)):
            if job.cancelled:
                return None
            out = self.model.get_image_features(pixel_values[i:i + 1], return_dict=True)
            features.append(out.pooler_output)
            job.progress("image_encode", i + 1, len(pictures), i + 1 if len(pictures) > 1 else 0)
        return torch.cat(features).reshape(-1, features[0].shape[-1])

    def _prefill(self, ids: list[int], is_image: list[bool], features):
        """One forward over the whole prompt: image placeholders filled with
        their embeddings, image blocks bidirectional (token_type_ids)."""
        import torch
        from transformers import DynamicCache

        input_ids = torch.tensor([ids])
        embeds = self.model.get_input_embeddings()(input_ids)
        image_mask = torch.tensor([is_image])
        if features.numel():
            embeds = embeds.masked_scatter(image_mask.unsqueeze(-1), features.to(embeds.dtype))
        cache = DynamicCache(config=self.model.config)
        out = self.model(inputs_embeds=embeds, token_type_ids=image_mask.long(), past_key_values=cache,
                         use_cache=True, logits_to_keep=1)
        return out.logits[0, -1], out.past_key_values

    def _decode(self, job: Job, logits, cache, n_prompt: int, resume: list[int]) -> Iterator[Token]:
        import torch

        sampler = Sampler(job.params, self.eog, logits.shape[-1])
        text = TextDelta(self.tokenizer)
        for token in resume:  # already prefilled: pass their text on again
            yield Token(text.add(token), token)
        position = n_prompt + len(resume)
        while True:
            token = sampler.sample(logits)
            if token in self.eog and not job.params.ignore_eos:
                return
            yield Token(text.add(token), token)
            position += 1
            if position >= self.n_ctx:
                return "length"
            out = self.model(input_ids=torch.tensor([[token]]), past_key_values=cache, use_cache=True)
            logits, cache = out.logits[0, -1], out.past_key_values
