// fault.h: deliberate failures, so every supervisor fault path can be
// triggered on purpose by a test (STYLE.md: "every fault path has a test").
//
// Compiled into every build but inert: the worker honours a job's fault
// only when started with --allow-fault-injection, and refuses the job
// otherwise (Failed invalid_request). Each kind imitates one real failure:
//   segfault        a wild write (a real SIGSEGV, not raise())
//   abort           std::abort(): SIGABRT, like a failed GGML_ASSERT
//   hang_busy       spins on the CPU forever; heartbeats go on, progress frozen
//   hang_syscall    blocks forever in read() on a pipe nobody writes
//   exit            _exit(exit_code), as a library calling exit() would
//   oom             allocates and touches memory until the kernel (or the
//                   RLIMIT_AS the supervisor set) ends the process
//   garbage         writes non-protocol bytes to the supervisor, carries on
//   close_protocol  closes the channel and keeps running (sleeps forever)
// and what a compromised worker would try, to show the sandbox (sandbox.h)
// stops it. Each writes its evidence to stderr (the crash report's tail)
// and, unless the sandbox killed it first, aborts:
//   sandbox_write   creates /tmp/vigil-sandbox-probe
//   sandbox_exec    runs /bin/sh
//   sandbox_connect opens a TCP socket to 127.0.0.1:9
//   sandbox_read    lists /root (another user's directory, mode 0700; it
//                   exists in every root file system, /etc/shadow does not)
//
// Thread-safety: TriggerFault runs on the calling thread (the engine's, so a
// hang looks exactly like a hung engine).
#pragma once

#include <optional>
#include <string_view>

#include "worker/channel.h"

namespace vigil::worker {

enum class FaultKind {
  kSegfault, kAbort, kHangBusy, kHangSyscall, kExit, kOom, kGarbage, kCloseProtocol,
  kSandboxWrite, kSandboxExec, kSandboxConnect, kSandboxRead,
};

// Where sandbox_write tries to create a file (tests check it stays absent).
inline constexpr const char* kSandboxProbePath = "/tmp/vigil-sandbox-probe";
// What sandbox_read tries to open.
inline constexpr const char* kForeignFilePath = "/root";

std::optional<FaultKind> ParseFaultKind(std::string_view name);
const char* FaultKindName(FaultKind kind);

// Performs the fault. Returns only for kGarbage.
void TriggerFault(FaultKind kind, int exit_code, Channel& channel);

}  // namespace vigil::worker
