"""`run(engine)`: the worker process around an engine (docs/protocol.md,
"Life of a worker").

Threads: the main thread loads the model and runs the jobs (one `next()` of
each running job's generator in turn); a reader thread reads the
supervisor's frames into the Inbox; a heartbeat thread sends a heartbeat
every 100 ms. Exits: 0 after `shutdown` once every job ended, 2 when the
model does not load (after a typed `failed` with job 0), 3 on a malformed
frame or EOF from the supervisor; SIGABRT on a bug or MemoryError.
"""
from __future__ import annotations

import collections
import faulthandler
import os
import signal
import sys
import threading
import time
from typing import NoReturn

from vigil_worker import faults, protocol
from vigil_worker.channel import Channel, Heartbeat, Liveness
from vigil_worker.engine import Engine, WorkerConfig
from vigil_worker.errors import EngineError, ErrorCode, ExitCode
from vigil_worker.jobs import JobRun, RunContext, die_of_bug, say
from vigil_worker.options import parse_worker_args


def _exit(code: int) -> NoReturn:
    sys.stderr.flush()
    os._exit(code)


def _protocol_exit(why: str) -> NoReturn:
    say(why + "; exiting")
    _exit(ExitCode.PROTOCOL_ERROR)


class Inbox:
    """Jobs and cancels from the reader thread to the main thread. A job has a
    cancel event from push until forget, so a cancel reaches it queued or
    running; a cancel for an unknown or finished job is ignored (its done
    crossed the cancel on the wire)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._queue: collections.deque[tuple[protocol.JobMessage, threading.Event]] = collections.deque()
        self._cancels: dict[int, threading.Event] = {}
        self._shutdown = False

    def push(self, job: protocol.JobMessage) -> None:
        with self._cv:
            event = self._cancels[job.job_id] = threading.Event()
            self._queue.append((job, event))
            self._cv.notify_all()

    def cancel(self, job_id: int) -> None:
        with self._cv:
            if (event := self._cancels.get(job_id)) is not None:
                event.set()

    def forget(self, job_id: int) -> None:
        with self._cv:
            self._cancels.pop(job_id, None)

    def shutdown(self) -> None:
        with self._cv:
            self._shutdown = True
            self._cv.notify_all()

    def take(self, block: bool) -> tuple[protocol.JobMessage, threading.Event] | None:
        with self._cv:
            if block:
                self._cv.wait_for(lambda: self._shutdown or self._queue)
            return self._queue.popleft() if self._queue else None

    @property
    def closed(self) -> bool:
        with self._cv:
            return self._shutdown and not self._queue


def _read_frames(channel: Channel, inbox: Inbox) -> None:
    decoder = protocol.FrameDecoder()
    while True:
        data = channel.recv()
        if not data:
            if channel.closed:  # the close_protocol fault closed it on purpose
                return
            _protocol_exit("the supervisor closed the channel")
        decoder.feed(data)
        try:
            while (frame := decoder.next()) is not None:
                message = protocol.parse_supervisor_frame(frame)
                if isinstance(message, protocol.JobMessage):
                    inbox.push(message)
                elif isinstance(message, protocol.CancelMessage):
                    inbox.cancel(message.job_id)
                else:
                    inbox.shutdown()
                    return
        except protocol.ProtocolError as e:
            _protocol_exit("bad frame from the supervisor: %s" % e)


def _load(engine: Engine, config: WorkerConfig, channel: Channel, liveness: Liveness) -> protocol.Frame:
    """The `loaded` frame; on failure sends `failed` (job 0) and exits 2."""
    if config.fault_at_load:
        try:
            faults.trigger(config.fault_at_load, 1, channel)
        except Exception:  # the `exception` kind: a bug while loading
            die_of_bug("the engine raised while loading")
    start = time.monotonic()
    try:
        info = engine.load(config, liveness.advance)
    except EngineError as e:
        code, message = e.code, e.message
    except MemoryError:
        code, message = ErrorCode.OUT_OF_MEMORY, "out of memory (MemoryError) while loading"
    except Exception as e:  # a library's own error (file not found, bad checkpoint): typed, not a crash loop
        import traceback
        traceback.print_exc(file=sys.stderr)
        code, message = ErrorCode.INTERNAL, "%s: %s" % (type(e).__name__, e)
    else:
        if config.model_name:
            info.name = config.model_name
        capacity = max(1, min(info.capacity, config.jobs))
        say("loaded %s in %.0f ms (capacity %d)" % (info.name, (time.monotonic() - start) * 1000, capacity))
        return protocol.loaded((time.monotonic() - start) * 1000, info, capacity)
    say("load failed: %s" % message)
    channel.send(protocol.failed(0, code, message))
    _exit(ExitCode.FATAL_CONFIG)


def _serve(inbox: Inbox, ctx: RunContext, capacity: int) -> None:
    """Admits jobs while there is room, steps every running one in turn, and
    blocks only when nothing runs. Returns once shut down and drained."""
    runs: list[JobRun] = []
    while True:
        while len(runs) < capacity:
            entry = inbox.take(block=not runs)
            if entry is None:
                break
            run = JobRun(entry[0], entry[1], ctx)
            run.start()
            if run.ended:
                inbox.forget(run.job_id)
            else:
                runs.append(run)
        if not runs:
            ctx.liveness.set("idle", 0)
            if inbox.closed:
                return
            continue
        for run in list(runs):
            run.step()
            if run.ended:
                runs.remove(run)
                inbox.forget(run.job_id)
        if not runs:
            ctx.liveness.set("idle", 0)


def _enable_faulthandler() -> None:
    """A native crash leaves the crashing thread's Python stack on stderr, and
    only that: the supervisor keeps the last 50 lines for the crash report,
    which must still hold the lines before the crash."""
    try:
        faulthandler.enable(all_threads=False, c_stack=False)  # c_stack: Python 3.14+
    except TypeError:
        faulthandler.enable(all_threads=False)


def run(engine: Engine, argv: list[str] | None = None) -> NoReturn:
    """Runs `engine` as a vigil worker on the command line vigil serve gave
    (sys.argv by default). Never returns: exits with the protocol's code."""
    # A worker's life is the supervisor's to end (shutdown frame or SIGKILL):
    # a group-wide Ctrl-C or a service manager's SIGTERM makes the supervisor
    # drain, and the workers must finish the jobs in flight.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _enable_faulthandler()
    try:
        config = parse_worker_args(engine, sys.argv[1:] if argv is None else argv)
        channel = Channel(config.fd)
    except (ValueError, OSError) as e:
        say(str(e))
        _exit(ExitCode.FATAL_CONFIG)
    liveness = Liveness()
    channel.send(protocol.hello(engine.name, os.getpid()))
    heartbeat = Heartbeat(channel, liveness)
    heartbeat.start()
    loaded = _load(engine, config, channel, liveness)
    liveness.set("idle", 0)
    channel.send(loaded)
    inbox = Inbox()
    threading.Thread(target=_read_frames, args=(channel, inbox), name="vigil-reader", daemon=True).start()
    try:
        _serve(inbox, RunContext(channel, liveness, engine, config), loaded.header["capacity"])
    except MemoryError:
        say("out of memory (MemoryError)")
        os.abort()
    except Exception:
        die_of_bug("the worker raised")
    heartbeat.stop()
    _exit(ExitCode.CLEAN)
