// vigil-worker: the disposable process that runs one model for a supervisor.
// See worker.h for its life and options.h for its command line.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "worker/engine/engine.h"

#include "common/log.h"
#include "protocol/messages.h"
#include "worker/crash_handler.h"
#include "worker/options.h"
#include "worker/sandbox.h"
#include "worker/sandbox_selftest.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--list-devices") {
    std::fputs(vigil::worker::ListDevices().c_str(), stdout);
    return 0;
  }
  if (argc == 2 && std::string_view(argv[1]) == "--sandbox-selftest") {
    return vigil::worker::RunSandboxSelftest();
  }
  // Never outlive the supervisor. PDEATHSIG fires when the parent *thread*
  // that forked us exits, and not at all if the parent died before prctl;
  // a changed getppid() across the call catches the late case. The early
  // case (died before main) needs the parent's pid from outside: the
  // supervisor may pass it in VIGIL_SUPERVISOR_PID. (No "ppid == 1" test: a
  // supervisor running as PID 1 in a container is legitimate.)
  const pid_t parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const char* expected = std::getenv("VIGIL_SUPERVISOR_PID");
  if (::getppid() != parent || (expected && std::atol(expected) != parent)) {
    std::fputs("vigil-worker: supervisor already gone\n", stderr);
    return vigil::protocol::kExitProtocolError;
  }
  // A write to a dead supervisor must fail with EPIPE, not kill us silently.
  ::signal(SIGPIPE, SIG_IGN);
  // A worker's life is the supervisor's to end (shutdown frame, or SIGKILL).
  // Process managers signal every process of a service at once (systemd's
  // KillMode=control-group) and a terminal's Ctrl-C the whole group: the
  // supervisor then drains, and its workers must finish the jobs in flight.
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);

  vigil::Result<vigil::worker::WorkerOptions> options = vigil::worker::ParseWorkerOptions(argc, argv);
  if (!options) {
    vigil::LogError("options_rejected", {{"message", options.error().message}});
    return vigil::protocol::kExitFatalConfig;
  }
  const std::string sandbox = vigil::worker::ApplySandbox({.memory_limit_mb = options->memory_limit_mb});
  vigil::LogInfo("sandbox_applied", {{"stage", "start"}, {"summary", sandbox}});
  static vigil::worker::WorkerState state;  // static: the crash handler reads it
  vigil::worker::InstallCrashHandler(&state);
  return vigil::worker::RunWorker(*options, state);
}
