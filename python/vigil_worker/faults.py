"""Deliberate failures, so every supervisor fault path can be triggered on a
Python worker exactly as on vigil-worker (src/worker/fault.h). Honoured only
when the worker runs with --allow-fault-injection; otherwise a job carrying a
fault fails with invalid_request.

The kinds, each the Python form of a real failure:
  segfault        a wild write through ctypes (a real SIGSEGV in native code)
  abort           os.abort(): SIGABRT, as a failed assertion in a C extension
  hang_busy       spins in Python code forever; heartbeats go on, progress frozen
  hang_syscall    blocks in C code: libc read() through ctypes on a pipe
                  nobody writes (ctypes releases the GIL, as extensions do
                  around blocking calls), so heartbeats go on
  hang_gil        blocks in C code that holds the GIL (a PyDLL call): the
                  heartbeat thread starves, so no heartbeat at all arrives
  exit            os._exit(exit_code), as a library calling exit() would
  oom             allocates until MemoryError (RLIMIT_AS) or the kernel's OOM
                  killer; then says "out of memory" and aborts
  garbage         writes non-protocol bytes on the socket, carries on
  close_protocol  closes the socket and keeps running
  exception       raises an exception the engine did not expect (a bug)
Each first writes "injecting fault KIND" to stderr (the crash report's tail).

Thread-safety: `trigger` runs on the calling thread (the engine's, so a hang
looks exactly like a hung engine).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from typing import NoReturn

from vigil_worker.channel import Channel

KINDS = ("segfault", "abort", "hang_busy", "hang_syscall", "hang_gil", "exit", "oom", "garbage",
         "close_protocol", "exception")
POINTS = ("before_first_token", "after_tokens")


class InjectedFault(RuntimeError):
    """What the `exception` fault raises: nothing in an engine expects it."""


def _say(line: str) -> None:
    print("vigil-worker (python): " + line, file=sys.stderr, flush=True)


def _segfault() -> NoReturn:
    # A store to address 16: the same wild write as vigil-worker's.
    ctypes.memset(16, 1, 1)
    os.abort()  # unreachable unless page 0 is mapped


def _hang_busy() -> NoReturn:
    n = 0
    while True:
        n += 1


def _hang_syscall() -> NoReturn:
    read_end, _write_end = os.pipe()  # the write end stays open: never readable
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(1)
    while True:
        libc.read(read_end, buf, 1)


def _hang_gil() -> NoReturn:
    # PyDLL keeps the GIL during the call: no Python thread runs meanwhile.
    ctypes.PyDLL(None).pause()
    _hang_busy()


def _oom() -> NoReturn:
    hoard = []
    try:
        while True:
            hoard.append(b"\xa5" * (64 << 20))  # written, so resident, not only reserved
    except MemoryError:
        hoard.clear()
        _say("out of memory (fault oom: MemoryError)")
        os.abort()


def _garbage(channel: Channel) -> None:
    # A body length of 0xFFFFFFFF: the supervisor rejects it at the 4th byte.
    channel.send_raw(b"\xff\xff\xff\xffvigil-worker garbage " + os.urandom(64))


def _close_protocol(channel: Channel) -> NoReturn:
    channel.close()
    while True:
        signal.pause() if hasattr(signal, "pause") else time.sleep(3600)


def trigger(kind: str, exit_code: int, channel: Channel) -> None:
    """Performs the fault. Returns only for `garbage`; raises for `exception`."""
    _say("injecting fault " + kind)
    if kind == "segfault":
        _segfault()
    elif kind == "abort":
        os.abort()
    elif kind == "hang_busy":
        _hang_busy()
    elif kind == "hang_syscall":
        _hang_syscall()
    elif kind == "hang_gil":
        _hang_gil()
    elif kind == "exit":
        os._exit(exit_code)
    elif kind == "oom":
        _oom()
    elif kind == "garbage":
        _garbage(channel)
    elif kind == "close_protocol":
        _close_protocol(channel)
    elif kind == "exception":
        raise InjectedFault("injected fault: an exception the engine did not expect")
    else:
        raise ValueError("unknown fault kind " + kind)
