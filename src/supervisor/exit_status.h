// exit_status.h: how a worker ended, decoded from a wait status.
//
// The worker's exit code is part of the protocol (protocol/messages.h):
// 0 clean, 2 fatal configuration (do not respawn), 3 protocol error. A
// SIGKILL the supervisor sent is attributed to the reason it was sent for
// (hung, protocol_error, cancel_timeout, shutdown); any other death is
// described by its signal or exit code.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace vigil::supervisor {

// Why the supervisor itself killed a worker, if it did.
enum class KillReason { kNone, kHung, kProtocolError, kCancelTimeout, kShutdown };
std::string_view KillReasonName(KillReason reason);

struct ExitInfo {
  // signal | exit | oom | sandbox_violation | fatal_config | protocol_error | hung |
  // cancel_timeout | shutdown | clean | spawn_failed
  std::string cause;
  int signal = 0;          // 0 unless killed by a signal
  int exit_code = -1;      // -1 unless it exited
  std::string detail;      // "killed by signal 11 (SIGSEGV)", "exited with code 2"
  bool expected = false;   // a requested stop: no crash report, no restart cause
};

// "SIGSEGV" for 11; "SIG<n>" for unknown numbers.
std::string SignalName(int signal);

// REQUIRES: status came from waitpid/waitid for an exited or killed child.
// `stderr_tail_mentions_oom`: the worker's last stderr lines name an
// allocation failure (std::bad_alloc, "out of memory"), so an abort is oom.
ExitInfo DescribeExit(int wait_status, KillReason kill_reason, bool stopping,
                      bool stderr_tail_mentions_oom);

}  // namespace vigil::supervisor
