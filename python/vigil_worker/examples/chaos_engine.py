"""A model-free engine in pure Python: the C++ chaos engine
(src/worker/engine/chaos_engine.h) ported onto vigil_worker, so the
supervisor's tests run unchanged against a Python worker and get the same
text for the same job.

It generates words "chaos-<n>" (n from the prompt and the seed, so a job
yields the same text wherever it runs) at --chaos-tokens-per-second per job,
honouring max_tokens (0 means 16), and replays `resume_tokens` first, like a
real engine resuming a job. A prompt counts one token per word plus 16 per
image; more than --ctx fails with prompt_too_long. Load takes
--chaos-load-ms. Images are only sniffed (by the runtime), never decoded.

    vigil serve --worker-command 'env PYTHONPATH=python python3 -m vigil_worker.examples.chaos_engine'
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator

import vigil_worker
from vigil_worker import Engine, Job, ModelInfo, PromptTooLongError, Token, WorkerConfig

IMAGE_SIZE = 896  # Gemma 3's, as the C++ chaos engine announces
IMAGE_TOKENS = 16
DEFAULT_MAX_TOKENS = 16
MASK = (1 << 64) - 1


def split_mix(state: int) -> tuple[int, int]:
    """SplitMix64: (new state, output), as chaos_engine.cc computes it."""
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def fnv1a(text: str) -> int:
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


class ChaosEngine(Engine):
    name = "chaos-python"

    def __init__(self) -> None:
        self.ctx = 4096
        self.interval = 1 / 2000

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--chaos-tokens-per-second", type=float, default=2000.0)
        parser.add_argument("--chaos-load-ms", type=int, default=0)

    def load(self, config: WorkerConfig, advance: Callable[[], None]) -> ModelInfo:
        self.ctx = config.ctx
        self.interval = 1 / max(config.args.chaos_tokens_per_second, 0.001)
        end = time.monotonic() + config.args.chaos_load_ms / 1000
        while time.monotonic() < end:
            time.sleep(min(0.01, max(0.0, end - time.monotonic())))
            advance()
        return ModelInfo(name="chaos", arch="chaos", n_ctx=config.ctx, n_ctx_train=config.ctx,
                         image_size=IMAGE_SIZE, device="CPU", capacity=config.jobs)

    def generate(self, job: Job) -> Iterator[Token]:
        prompt_tokens = len(job.prompt.split()) + IMAGE_TOKENS * len(job.images)
        if prompt_tokens >= self.ctx:
            raise PromptTooLongError("prompt is %d tokens; the context holds %d" % (prompt_tokens, self.ctx))
        job.prompt_tokens = prompt_tokens
        max_tokens = job.params.max_tokens if job.params.max_tokens > 0 else DEFAULT_MAX_TOKENS
        limit = min(max_tokens, self.ctx - prompt_tokens)
        rng = fnv1a(job.prompt) ^ job.params.seed
        for i, info in enumerate(job.images):
            number = i + 1 if len(job.images) > 1 else 0
            job.phase("image_encode")
            job.progress("image_encode", 0, 1, number)
            job.progress("image_encode", 1, 1, number)
        job.phase("prefill")
        job.progress("prefill", prompt_tokens, prompt_tokens)
        produced = 0
        for word in job.resume_tokens[:limit]:  # the same stream again, at once
            rng, _ = split_mix(rng)
            yield Token(("chaos-%d" if produced == 0 else " chaos-%d") % word, word)
            produced += 1
        decode_start = time.monotonic() - self.interval * produced
        while produced < limit:
            due = decode_start + self.interval * (produced + 1)
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            rng, value = split_mix(rng)
            word = value % 1000
            yield Token(("chaos-%d" if produced == 0 else " chaos-%d") % word, word)
            produced += 1
        return "length"


if __name__ == "__main__":
    vigil_worker.run(ChaosEngine())
