// crash_handler.h: a last word before the worker dies of a fatal signal.
//
// On SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT or SIGSYS the handler writes, with
// async-signal-safe calls only,
//   vigil-worker: fatal signal 11 (SIGSEGV) in phase decode job 7
// ("(sent by pid N)" appended when another process sent the signal; a SIGSYS
// from the seccomp filter is first named: "vigil-worker: sandbox violation:
// execve (syscall 59)") and a backtrace to stderr (the supervisor keeps stderr's tail for the crash
// report), then re-raises the signal with the default action so the
// supervisor's waitpid sees the real signal, not an exit code.
//
// The handler runs on an alternate stack so a stack overflow can still be
// reported; sigaltstack is per thread, and only the installing (main,
// engine) thread gets one.
//
// REQUIRES: called once, from the main thread, before other threads start.
// `state` must outlive the process.
#pragma once

#include "worker/worker_state.h"

namespace vigil::worker {

void InstallCrashHandler(const WorkerState* state);

}  // namespace vigil::worker
