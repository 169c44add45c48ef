"""vigil_worker: write a vigil worker in Python (standard library only).

A vigil worker is a disposable process that runs a model for the vigil
supervisor, speaking the worker protocol (docs/protocol.md, version 2) over a
socket the supervisor hands it. This package speaks the protocol (framing,
messages, heartbeats, cancel, stop strings, typed errors, fault injection);
an **engine** only loads a model and turns a job into tokens::

    import vigil_worker
    from vigil_worker import Engine, Job, ModelInfo, Token, WorkerConfig

    class MyEngine(Engine):
        name = "my-engine"

        def add_arguments(self, parser):          # optional: engine flags
            parser.add_argument("--checkpoint")

        def load(self, config: WorkerConfig, advance) -> ModelInfo:
            ...                                   # call advance() on each load step
            return ModelInfo(name="my-model", n_ctx=config.ctx, image_size=448, capacity=1)

        def generate(self, job: Job):
            job.phase("image_encode")             # heartbeats say what runs now
            ...                                   # encode job.images (bytes)
            job.phase("prefill")
            job.prompt_tokens = 42                # reported in usage
            for token_id, text in my_model_stream(job):
                if job.cancelled:                 # optional: the runtime also stops
                    return                        # the generator at its next yield
                yield Token(text, token_id)       # one per sampled token, at once

    if __name__ == "__main__":
        vigil_worker.run(MyEngine())              # never returns

and is served with `vigil serve --worker-command 'python3 -m my_engine --checkpoint DIR'`.

The life of an engine (what `run` does around it):

1. `run` parses the worker's command line (the flags vigil serve gives every
   worker: `--fd`, `--model`, `--ctx`, `--jobs`, `--device`, ...; unknown flags
   are ignored, engine flags come from `add_arguments`), sends `hello`, and
   starts a heartbeat thread (every 100 ms: phase, job, progress counter).
2. `engine.load(config, advance)` loads the model and returns a `ModelInfo`
   (`capacity`: jobs it runs at once, capped by `--jobs`). Raising `LoadError`
   or `OutOfMemoryError` sends a typed `failed` (job 0) and exits 2; the
   supervisor does not respawn a worker whose model does not load.
3. For each job, `engine.generate(job)` is a generator: the runtime calls
   `next()` on it and turns each yielded `Token` into a `piece` frame (one
   sampled token each; `Token.id` makes the job resumable on another worker,
   see `Job.resume_tokens`). It applies `max_tokens` and stop strings, measures
   the timings, and ends the job with `done`. Up to `capacity` generators run
   interleaved on the main thread, one `next()` each in turn.
4. `cancel`: `job.cancelled` turns true; the runtime closes the generator at
   its next yield and answers `done` with finish_reason `cancelled`.
5. Errors: raise `BadInputError` (or `PromptTooLongError`,
   `InvalidImageError`, or `EngineError(msg, ErrorCode.X)`) for a typed
   failure of one job; the worker goes on. Any other exception is a bug: the
   traceback goes to stderr and the worker aborts, so the supervisor retries
   the job elsewhere. `MemoryError` anywhere ends the worker as out of memory.
6. `shutdown`: queued and running jobs finish, then the worker exits 0; EOF or
   a malformed frame from the supervisor: exit 3.

Import heavy libraries (torch, transformers, mlx) inside `load`, not at the
top of the engine's module: `run` sends `hello` and starts heartbeats first,
so a slow import counts as loading (120 s of frozen progress allowed by
default, `--load-hang-limit`), not as a silent worker (10 s).

Thread-safety: `load` and `generate` (and every `next()`) run on the main
thread, one at a time. An engine may run its model in a thread of its own
(e.g. transformers' `generate` with a streamer) and yield from a queue; the
heartbeat thread keeps the worker alive meanwhile, and `job.advance()` /
`job.progress()` may be called from that thread.

Modules: `engine` (the interface), `errors` (typed errors, exit codes),
`protocol` (frames and messages), `runtime` (`run`), `faults` (fault
injection), `images` (image header sniffing), `examples.chaos_engine` (a
model-free test engine).
"""
from __future__ import annotations

from vigil_worker.engine import (ContentPart, Engine, ImageInfo, Job, Message, ModelInfo, Phase, SamplingParams,
                                 Token, WorkerConfig)
from vigil_worker.errors import (BadInputError, EngineError, ErrorCode, ExitCode, InvalidImageError, LoadError,
                                 OutOfMemoryError, PromptTooLongError)
from vigil_worker.protocol import PROTOCOL_VERSION
from vigil_worker.runtime import run

__all__ = [
    "BadInputError", "ContentPart", "Engine", "EngineError", "ErrorCode", "ExitCode", "ImageInfo",
    "InvalidImageError", "Job", "LoadError", "Message", "ModelInfo", "OutOfMemoryError", "PROTOCOL_VERSION",
    "Phase", "PromptTooLongError", "SamplingParams", "Token", "WorkerConfig", "run",
]
