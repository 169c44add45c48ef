// launcher.h: starts one worker process.
//
// SpawnWorkerProcess forks and execs `binary args... --fd 3` with:
// - fd 3: our end of a fresh AF_UNIX socketpair (the protocol channel), the
//   only descriptor the child inherits besides 0-2 (every other one is marked
//   close-on-exec with close_range);
// - stdout and stderr: one pipe, read by the supervisor (stderr tail);
// - stdin: /dev/null;
// - PR_SET_PDEATHSIG(SIGKILL): the worker dies with the supervisor, even when
//   the supervisor is SIGKILLed. Linux sends it when the *thread* that forked
//   exits, so spawn only from the event-loop thread, which lives as long as
//   the supervisor;
// - its own process group (kill(-pid) reaches anything it forks);
// - RLIMIT_CORE 0 (a crashing model must not write gigabytes of core), and
//   RLIMIT_AS = address_space_limit when that is positive;
// - default signal dispositions and an empty signal mask.
// - `hardening` (external workers, cli/worker_command.h; vigil-worker
//   hardens itself): no_new_privs, RLIMIT_NOFILE, a fresh network namespace
//   where permitted (silently skipped where not), then the uid/gid switch
//   (no supplementary groups), then PDEATHSIG again (a uid change clears it).
//   A failed uid/gid switch exits the child with 126, before exec.
// An exec failure exits the child with 127.
//
// Returns the pid, a pidfd (pidfd_open; invalid on kernels before 5.3, then
// the caller falls back to SIGCHLD), the protocol socket and the stderr pipe,
// all close-on-exec. Errors: kInternal with errno text (fork, socketpair).
//
// Thread-safety: call from the event-loop thread only (see PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace vigil::supervisor {

struct SpawnedProcess {
  pid_t pid = -1;
  UniqueFd pidfd;     // may be invalid (old kernel)
  UniqueFd channel;   // protocol socket, our end
  UniqueFd output;    // the worker's stdout+stderr, read end
};

// What the child applies to itself before exec (see above). -1: keep.
struct SpawnHardening {
  bool no_new_privs = false;
  int64_t max_open_files = 0;          // RLIMIT_NOFILE; 0: inherit
  bool new_network_namespace = false;  // unshare(CLONE_NEWNET) where permitted
  int64_t uid = -1;
  int64_t gid = -1;
  std::string user;                    // the name uid/gid came from, for logs
};

// The fd number the worker finds its protocol socket on.
inline constexpr int kWorkerChannelFd = 3;

Result<SpawnedProcess> SpawnWorkerProcess(const std::string& binary,
                                          const std::vector<std::string>& args,
                                          int64_t address_space_limit = 0,
                                          const SpawnHardening& hardening = {});

}  // namespace vigil::supervisor
