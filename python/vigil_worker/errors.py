"""Typed errors an engine raises, and the exit codes of the protocol.

An engine reports a problem it understands by raising an `EngineError`
subclass; the worker turns it into a `failed` frame carrying the error's wire
code (docs/protocol.md, "Error codes a worker may send"), which the supervisor
maps to an HTTP status. Anything else an engine raises is a bug: the worker
writes the traceback to stderr and aborts, and the supervisor retries the job
on a fresh worker (see `vigil_worker.runtime`).
"""
from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """The error codes a worker may send (src/common/error.h holds the HTTP table)."""

    INVALID_REQUEST = "invalid_request"
    INVALID_IMAGE = "invalid_image"
    UNSUPPORTED_IMAGE_FORMAT = "unsupported_image_format"
    IMAGE_TOO_LARGE = "image_too_large"
    PROMPT_TOO_LONG = "prompt_too_long"
    OUT_OF_MEMORY = "out_of_memory"
    INTERNAL = "internal"


class ExitCode(enum.IntEnum):
    """A worker's exit status is part of the protocol."""

    CLEAN = 0           # asked to shut down
    FATAL_CONFIG = 2    # bad flags, model will not load: the supervisor does not respawn
    PROTOCOL_ERROR = 3  # malformed frame or EOF from the supervisor


class EngineError(Exception):
    """A typed failure: of one job (raised from `Engine.generate`) or of loading
    (raised from `Engine.load`)."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class LoadError(EngineError):
    """The model cannot load (missing file, unknown architecture, bad flag).
    The worker sends `failed` with job 0 and exits with code 2: the supervisor
    does not respawn it, and `/ready` says why."""


class OutOfMemoryError(EngineError):
    """The model, its context or a job's buffers do not fit the device's memory.
    At load: a configuration error, retried by the supervisor every
    `--oom-retry` seconds, not a crash. In a job: 503 `out_of_memory`."""

    code = ErrorCode.OUT_OF_MEMORY


class BadInputError(EngineError):
    """This job's input cannot be served (400 by default; pass a more precise
    code such as `ErrorCode.INVALID_IMAGE`). The worker goes on."""

    code = ErrorCode.INVALID_REQUEST


class PromptTooLongError(BadInputError):
    """The prompt (text and image tokens) does not fit the context."""

    code = ErrorCode.PROMPT_TOO_LONG


class InvalidImageError(BadInputError):
    """An image is corrupt or lies about itself."""

    code = ErrorCode.INVALID_IMAGE
