"""The engine interface: what a model wrapper implements to become a vigil worker.

See the package docstring (`vigil_worker/__init__.py`) for the life of an
engine. This module holds the types an engine sees; `runtime.py` drives them.

Thread-safety: `Engine.load` and `Engine.generate` (and every `next()` on the
generators it returns) run on the worker's main thread, one call at a time.
`Job.cancelled` may be read from any thread (e.g. a generation thread the
engine starts); `Job.phase`, `Job.progress` and `Job.advance` may be called
from any thread too.
"""
from __future__ import annotations

import abc
import argparse
import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Literal, Protocol

Phase = Literal["idle", "load", "image_decode", "image_encode", "prefill", "decode"]
FinishReason = Literal["stop", "length"]


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    """The worker's command line: the flags `vigil serve` gives every worker
    (docs/protocol.md, "Transport"), parsed. `args` also holds the flags the
    engine added in `Engine.add_arguments`."""

    fd: int
    model: str = ""            # --model: what the engine loads (a path, a checkpoint)
    mmproj: str = ""           # --mmproj: a vision projector, for engines that split it
    ctx: int = 4096            # --ctx: context per job, tokens
    jobs: int = 1              # --jobs: jobs the supervisor would like run at once
    threads: int = 0           # --threads: CPU threads (0: the library's default)
    gpu_layers: int = -1       # --gpu-layers: -1 all on a GPU if any, 0 CPU only
    device: str = ""           # --device: e.g. "auto:1" (GPU 1 modulo the GPUs seen)
    max_image_pixels: int = 50_000_000  # --max-image-pixels: default per image
    model_name: str = ""       # --model-name: the name to report instead of the engine's
    allow_fault_injection: bool = False
    fault_at_load: str = ""
    args: argparse.Namespace = dataclasses.field(default_factory=argparse.Namespace)


@dataclasses.dataclass
class ModelInfo:
    """What `Engine.load` returns; becomes the `loaded` frame. Only `name` is
    required. `capacity` is how many jobs the worker runs at once (the runtime
    caps it at `--jobs`)."""

    name: str
    arch: str = ""
    n_ctx: int = 0
    n_ctx_train: int = 0
    image_size: int = 0        # side in pixels the vision encoder wants (0: no vision)
    n_params: int = 0
    device: str = "CPU"
    device_memory_total: int = 0
    device_memory_free: int = 0
    gpu_layers: int = 0
    chat_template: str = ""    # e.g. "hf" (the checkpoint's own), "builtin:chatml"
    capacity: int = 1


@dataclasses.dataclass(frozen=True)
class Token:
    """One sampled token: its text (whole characters; may be "") and its id in
    the model's vocabulary. With ids, a job survives its worker: the next
    worker gets them back as `Job.resume_tokens`."""

    text: str
    id: int | None = None


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 256      # the runtime stops the generator at this many tokens
    temperature: float = 0.0   # 0: greedy
    top_p: float = 1.0
    top_k: int = 0             # 0: off
    seed: int = 0
    stop: tuple[str, ...] = ()  # the runtime applies them; the engine may ignore them
    ignore_eos: bool = False


@dataclasses.dataclass(frozen=True)
class ContentPart:
    """A part of a chat message: text, or the next image of the job."""

    type: Literal["text", "image"]
    text: str = ""


@dataclasses.dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: tuple[ContentPart, ...]


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """An image as the runtime found it in its header (nothing decoded)."""

    format: str  # png | jpeg | webp | gif | bmp
    width: int
    height: int


@dataclasses.dataclass
class ImageFacts:
    """What the `done` frame reports per image; the engine may correct the
    model side (what its encoder was given) with `Job.report_image`."""

    width: int
    height: int
    model_width: int
    model_height: int
    format: str


class JobHooks(Protocol):
    """How a Job talks to the runtime (implemented in runtime.py)."""

    def set_phase(self, job: "Job", phase: Phase) -> None: ...
    def send_progress(self, job: "Job", phase: Phase, done: int, total: int, image: int) -> None: ...
    def advance(self) -> None: ...


class Job:
    """One unit of work, as the engine sees it. Built by the runtime."""

    def __init__(self, *, job_id: int, prompt: str, messages: tuple[Message, ...], params: SamplingParams,
                 images: tuple[bytes, ...], image_infos: tuple[ImageInfo, ...], resume_tokens: tuple[int, ...],
                 max_image_pixels: int, hooks: JobHooks):
        self.id = job_id
        # The text-only view of the request. When `messages` is empty, the
        # conversation is one user turn holding every image, then `prompt`.
        self.prompt = prompt
        # The conversation: render it with the model's chat template; the
        # i-th image part is images[i].
        self.messages = messages
        self.params = params
        self.images = images             # the encoded bytes, as the client sent them
        self.image_infos = image_infos   # format and size, one per image
        # Token ids a dead worker already generated for this job: prefill them
        # after the prompt, yield a Token (with its id) for each one first, then
        # sample on. An engine that cannot may ignore them and start over.
        self.resume_tokens = resume_tokens
        self.max_image_pixels = max_image_pixels
        self.prompt_tokens = 0           # set by the engine: reported in usage
        self.device_memory_free = 0      # set by the engine after the job, bytes (0: unknown)
        self.image_facts = [ImageFacts(i.width, i.height, i.width, i.height, i.format) for i in image_infos]
        self._hooks = hooks
        self._cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        """True once the supervisor cancelled this job. The runtime closes the
        generator at its next yield; check this in long steps (encode, prefill)
        to stop sooner."""
        return self._cancel.is_set()

    def phase(self, phase: Phase) -> None:
        """Says what this job computes now (heartbeats carry it, the supervisor
        applies that phase's hang limit, timings are measured by it)."""
        self._hooks.set_phase(self, phase)

    def progress(self, phase: Phase, done: int, total: int, image: int = 0) -> None:
        """Reports real progress in image_encode or prefill (a `progress` frame;
        advances the liveness counter). `image`: which image, from 1, when several."""
        self._hooks.send_progress(self, phase, done, total, image)

    def advance(self) -> None:
        """Advances the liveness counter: call it on every real step that yields
        no token (a prefill batch, an encoder layer). A busy worker whose counter
        stays frozen past its phase's limit is killed as hung."""
        self._hooks.advance()

    def report_image(self, index: int, model_width: int, model_height: int) -> None:
        """The size the vision encoder was given for image `index` (from 0)."""
        facts = self.image_facts[index]
        facts.model_width, facts.model_height = model_width, model_height


class Engine(abc.ABC):
    """A model wrapper. Subclass it, then call `vigil_worker.run(MyEngine())`."""

    #: The engine's name in the `hello` frame (and the worker's logs).
    name: str = "python"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Adds engine-specific flags (they come from the --worker-command line);
        read them in `load` from `config.args`."""

    @abc.abstractmethod
    def load(self, config: WorkerConfig, advance: Callable[[], None]) -> ModelInfo:
        """Loads the model. Call `advance()` on every real load step (a file
        read, a layer placed) so a slow load is not taken for a hung one.
        Raise LoadError or OutOfMemoryError (errors.py) for a typed failure."""

    @abc.abstractmethod
    def generate(self, job: Job) -> Iterator[Token | str]:
        """Runs one job: yields one Token (or its text) per sampled token, as
        soon as it is sampled. Return to end the job: a plain return means the
        model stopped (EOS); `return "length"` means it ran out of context.
        The runtime stops the generator (`close()`) at max_tokens, at a stop
        string, or on cancel, so a `try/finally` around the loop frees what the
        job holds. Raise a BadInputError subclass for a typed failure of this
        job; any other exception is a bug and ends the worker (the supervisor
        retries the job on a fresh one)."""
