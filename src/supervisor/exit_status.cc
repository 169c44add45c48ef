#include "supervisor/exit_status.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "protocol/messages.h"

namespace vigil::supervisor {

std::string_view KillReasonName(KillReason reason) {
  switch (reason) {
    case KillReason::kNone: return "none";
    case KillReason::kHung: return "hung";
    case KillReason::kProtocolError: return "protocol_error";
    case KillReason::kCancelTimeout: return "cancel_timeout";
    case KillReason::kShutdown: return "shutdown";
  }
  return "none";
}

std::string SignalName(int signal) {
  // sigabbrev_np (glibc 2.32+) gives "SEGV"; it returns nullptr for
  // numbers it does not know, e.g. real-time signals.
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return "SIG" + std::to_string(signal);
  return std::string("SIG") + abbrev;
}

namespace {

ExitInfo Killed(KillReason reason, int signal) {
  ExitInfo info;
  info.cause = std::string(KillReasonName(reason));
  info.signal = signal;
  info.expected = reason == KillReason::kShutdown;
  switch (reason) {
    case KillReason::kHung: info.detail = "hung and killed"; break;
    case KillReason::kProtocolError: info.detail = "broke the protocol and was killed"; break;
    case KillReason::kCancelTimeout: info.detail = "ignored a cancel and was killed"; break;
    default: info.detail = "killed at shutdown"; break;
  }
  return info;
}

}  // namespace

ExitInfo DescribeExit(int status, KillReason kill_reason, bool stopping, bool mentions_oom) {
  ExitInfo info;
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGKILL && kill_reason != KillReason::kNone) return Killed(kill_reason, sig);
    info.signal = sig;
    info.detail = "killed by signal " + std::to_string(sig) + " (" + SignalName(sig) + ")";
    // The worker's seccomp filter traps a forbidden call with SIGSYS
    // (worker/sandbox.h); nothing else in a worker raises it.
    if (sig == SIGSYS) {
      info.cause = "sandbox_violation";
      info.detail = "sandbox violation, " + info.detail;
      return info;
    }
    // The kernel's OOM killer sends SIGKILL; an allocation failure inside the
    // worker ends in abort() after a bad_alloc message on stderr.
    info.cause = mentions_oom ? "oom" : "signal";
    if (mentions_oom) info.detail = "ran out of memory, " + info.detail;
    return info;
  }
  info.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  info.detail = "exited with code " + std::to_string(info.exit_code);
  if (info.exit_code == protocol::kExitClean) {
    info.cause = "clean";
    info.expected = stopping;
    if (!stopping) info.detail = "exited with code 0 unasked";
  } else if (info.exit_code == protocol::kExitFatalConfig) {
    info.cause = "fatal_config";
    info.detail += " (fatal configuration)";
  } else if (info.exit_code == protocol::kExitProtocolError) {
    info.cause = "protocol_error";
    info.detail += " (protocol error)";
  } else if (kill_reason == KillReason::kShutdown || stopping) {
    info.cause = "exit";
    info.expected = true;
  } else {
    info.cause = mentions_oom ? "oom" : "exit";
    if (mentions_oom) info.detail = "ran out of memory, " + info.detail;
  }
  return info;
}

}  // namespace vigil::supervisor
