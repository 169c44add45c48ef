"""An engine that fails on purpose, for the runtime's tests: at load
(--fail-load load_error|oom|memory_error|exception) or in a job whose prompt
names the failure (bad_input, bug); prompt "until_cancel" blocks inside the
generator until the job is cancelled, then returns (as a slow encode would)."""
from __future__ import annotations

import time

import vigil_worker
from vigil_worker import BadInputError, Engine, ErrorCode, LoadError, ModelInfo, OutOfMemoryError, Token


class BrokenEngine(Engine):
    name = "broken"

    def add_arguments(self, parser):
        parser.add_argument("--fail-load", default="")

    def load(self, config, advance):
        kind = config.args.fail_load
        if kind == "load_error":
            raise LoadError("no checkpoint at /nowhere")
        if kind == "oom":
            raise OutOfMemoryError("the model needs 80 GiB; the device has 8")
        if kind == "memory_error":
            raise MemoryError()
        if kind == "exception":
            raise FileNotFoundError("/nowhere/config.json")
        return ModelInfo(name="broken", capacity=2)

    def generate(self, job):
        yield Token("one ", 1)
        if job.prompt == "bad_input":
            raise BadInputError("the prompt names a bad input", ErrorCode.INVALID_IMAGE)
        if job.prompt == "bug":
            raise KeyError("a bug in the engine")
        if job.prompt == "until_cancel":
            while not job.cancelled:
                time.sleep(0.01)
            return
        yield Token("two", 2)


if __name__ == "__main__":
    vigil_worker.run(BrokenEngine())
