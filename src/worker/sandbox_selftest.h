// sandbox_selftest.h: `vigil-worker --sandbox-selftest`: what the sandbox
// (sandbox.h) does on this machine, shown by doing it.
//
// For each forbidden action (write a file outside, exec a shell, connect to
// 127.0.0.1, read another user's file, trace a process, make a namespace,
// allocate past the memory limit) a child process applies the worker's
// sandbox exactly as a loaded worker does (as `nobody` when run as root),
// tries the action, and the parent prints one line:
//   exec a shell                    killed (SIGSYS, sandbox violation: execve)
//   write a file outside            denied (Permission denied)
// Exit status: 0 when every action was denied or killed, 1 otherwise.
// Thread-safety: call from main, before any thread starts (it forks).
#pragma once

namespace vigil::worker {

int RunSandboxSelftest();

}  // namespace vigil::worker
