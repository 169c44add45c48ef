"""One job's run inside the worker: from its `job` frame to its one `done` or
`failed`. The runtime calls `start()` once, then `step()` until `ended`.

Per job the frames are progress*, piece*, then exactly one done or failed
(docs/protocol.md). A job whose engine raises a typed EngineError fails
alone; anything else the engine raises is a bug and ends the worker (see
`die_of_bug`), like a MemoryError (`die_of_oom`).

Thread-safety: main thread only, except the hooks Job calls (phase,
progress, advance), which may come from an engine thread.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import NoReturn

from vigil_worker import faults, images, protocol
from vigil_worker.channel import Channel, Liveness
from vigil_worker.engine import Engine, Job, Phase, Token, WorkerConfig
from vigil_worker.errors import BadInputError, EngineError, ErrorCode
from vigil_worker.stream import StopStream

_TIMED_PHASES = ("image_decode", "image_encode", "prefill", "decode")


def say(line: str) -> None:
    print("vigil-worker (python): " + line, file=sys.stderr, flush=True)


def die_of_bug(what: str) -> NoReturn:
    """A broken invariant: the traceback to stderr (the crash report's tail),
    then SIGABRT. The supervisor retries the job on a fresh worker."""
    say("%s: %s" % (what, traceback.format_exc().rstrip().replace("\n", "\n    ")))
    say("aborting on an unexpected exception")
    os.abort()


def die_of_oom(where: str) -> NoReturn:
    say("out of memory (MemoryError) " + where)
    os.abort()


@dataclasses.dataclass
class RunContext:
    channel: Channel
    liveness: Liveness
    engine: Engine
    config: WorkerConfig


@dataclasses.dataclass(frozen=True)
class _ArmedFault:
    kind: str
    at_start: bool
    after_pieces: int
    exit_code: int


class JobRun:
    def __init__(self, msg: protocol.JobMessage, cancel: threading.Event, ctx: RunContext):
        self.msg, self.ctx = msg, ctx
        self.job_id = msg.job_id
        self.ended = False
        self._cancel = cancel
        self._job: Job | None = None
        self._gen: Iterator[Token | str] | None = None
        self._stream = StopStream(msg.params.stop)
        self._fault: _ArmedFault | None = None
        self._tokens: list[int] = []    # ids since the last piece
        self._completion = 0
        self._pieces = 0
        self._phase: str = "image_decode"
        self._since = time.monotonic()
        self._timings = {p + "_ms": 0.0 for p in _TIMED_PHASES}

    # --- JobHooks (engine.py) ---
    def set_phase(self, job: Job, phase: Phase) -> None:
        now = time.monotonic()
        if self._phase in _TIMED_PHASES:
            self._timings[self._phase + "_ms"] += (now - self._since) * 1000
        self._phase, self._since = phase, now
        self.ctx.liveness.set(phase, self.job_id)

    def send_progress(self, job: Job, phase: Phase, done: int, total: int, image: int) -> None:
        self.ctx.liveness.advance()
        self.ctx.channel.send(protocol.progress(self.job_id, phase, done, total, image))

    def advance(self) -> None:
        self.ctx.liveness.advance()

    # --- the run ---
    def start(self) -> None:
        if self._cancel.is_set():  # cancelled while queued: nothing was computed
            return self._finish("cancelled")
        self.ctx.liveness.set("image_decode", self.job_id)
        try:
            self._fault = self._arm_fault()
            infos = self._sniff_images()
        except EngineError as e:
            return self._fail(e)
        job = Job(job_id=self.job_id, prompt=self.msg.prompt, messages=self.msg.messages, params=self.msg.params,
                  images=self.msg.images, image_infos=infos, resume_tokens=self.msg.resume_tokens,
                  max_image_pixels=self.msg.max_image_pixels or self.ctx.config.max_image_pixels, hooks=self)
        job._cancel = self._cancel
        self._job = job
        self.set_phase(job, "prefill")
        try:
            self._gen = iter(self.ctx.engine.generate(job))
        except EngineError as e:
            return self._fail(e)
        except MemoryError:
            die_of_oom("in generate")
        except Exception:
            die_of_bug("the engine raised in generate")

    def _arm_fault(self) -> _ArmedFault | None:
        f = self.msg.fault
        if f is None:
            return None
        if not self.ctx.config.allow_fault_injection:
            raise BadInputError("fault injection disabled")
        if f.kind not in faults.KINDS:
            raise BadInputError("unknown fault kind " + f.kind)
        if f.at not in faults.POINTS:
            raise BadInputError("unknown fault point " + f.at)
        at_start = f.at == "before_first_token" or f.after_tokens == 0
        return _ArmedFault(f.kind, at_start, f.after_tokens, f.exit_code)

    def _sniff_images(self) -> tuple:
        n = len(self.msg.images)
        limit = self.msg.max_image_pixels or self.ctx.config.max_image_pixels
        infos = []
        for i, data in enumerate(self.msg.images):
            number = i + 1 if n > 1 else 0
            self.ctx.channel.send(protocol.progress(self.job_id, "image_decode", i, n, number))
            try:
                infos.append(images.sniff(data, limit))
            except EngineError as e:
                if n > 1:
                    e.message = "image %d: %s" % (i + 1, e.message)
                raise
            self.ctx.liveness.advance()
        if n:
            self.ctx.channel.send(protocol.progress(self.job_id, "image_decode", n, n))
        return tuple(infos)

    def step(self) -> None:
        """One next() of the engine's generator: one token, or the job's end."""
        assert self._gen is not None and self._job is not None
        if self._cancel.is_set():
            self._close()
            return self._finish("cancelled")
        self.ctx.liveness.set(self._phase, self.job_id)
        try:
            if self._fault and self._fault.at_start:
                self._fire()
            item = next(self._gen)
        except StopIteration as end:
            if self._cancel.is_set():  # the engine saw the cancel first and returned
                return self._finish("cancelled")
            return self._finish(end.value if end.value in ("stop", "length") else "stop")
        except EngineError as e:
            return self._fail(e)
        except MemoryError:
            die_of_oom("in job %d" % self.job_id)
        except Exception:
            die_of_bug("the engine raised in job %d" % self.job_id)
        self._on_token(item if isinstance(item, Token) else Token(str(item)))

    def _on_token(self, token: Token) -> None:
        if self._completion == 0:
            self.set_phase(self._job, "decode")
        self._completion += 1
        self.ctx.liveness.advance()
        if token.id is not None:
            self._tokens.append(token.id)
        self._emit(self._stream.push(token.text))
        if self._stream.stopped:
            self._close()
            return self._finish("stop")
        limit = self.msg.params.max_tokens
        if limit > 0 and self._completion >= limit:
            self._close()
            self._finish("length")

    def _emit(self, text: str) -> None:
        if not text:
            return
        self.ctx.channel.send(protocol.piece(self.job_id, text, self._tokens))
        self._tokens = []
        self._pieces += 1
        if self._fault and not self._fault.at_start and self._pieces == self._fault.after_pieces:
            self._fire()

    def _fire(self) -> None:
        fault, self._fault = self._fault, None  # garbage returns: fire once
        assert fault is not None
        self.ctx.liveness.set("decode", self.job_id)  # the crash report names this job
        faults.trigger(fault.kind, fault.exit_code, self.ctx.channel)

    def _close(self) -> None:
        if self._gen is not None and hasattr(self._gen, "close"):
            try:
                self._gen.close()
            except MemoryError:
                die_of_oom("closing job %d" % self.job_id)
            except Exception:
                die_of_bug("the engine raised closing job %d" % self.job_id)

    def _finish(self, reason: str) -> None:
        if self._job is not None:
            self.set_phase(self._job, "idle")
        self._emit(self._stream.flush())
        job = self._job
        facts = [dataclasses.asdict(f) for f in job.image_facts] if job else []
        self.ctx.channel.send(protocol.done(
            self.job_id, self._stream.text, reason, job.prompt_tokens if job else 0, self._completion,
            self._timings, facts, job.device_memory_free if job else 0))
        self.ended = True

    def _fail(self, e: EngineError) -> None:
        code = e.code if isinstance(e.code, ErrorCode) else ErrorCode.INTERNAL
        self.ctx.channel.send(protocol.failed(self.job_id, code, e.message))
        self.ended = True
