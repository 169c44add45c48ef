#include "common/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace vigil {
namespace {

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void ExecChild(const SpawnSpec& spec, pid_t parent, char** argv, int* moved, int first_free) {
  if (spec.parent_death_signal != 0) {
    prctl(PR_SET_PDEATHSIG, spec.parent_death_signal);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
  }
  if (spec.own_process_group) setpgid(0, 0);
  if (spec.reset_signals) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  }
  if (spec.no_core) {
    struct rlimit zero = {0, 0};
    setrlimit(RLIMIT_CORE, &zero);
  }
  if (spec.address_space_limit > 0) {
    const auto limit = static_cast<rlim_t>(spec.address_space_limit);
    struct rlimit as = {limit, limit};
    setrlimit(RLIMIT_AS, &as);
  }
  // Move every source above all targets first, so no dup2 below clobbers a
  // source another mapping still needs.
  for (size_t i = 0; i < spec.fds.size(); ++i) {
    moved[i] = fcntl(spec.fds[i].second, F_DUPFD, first_free);
    if (moved[i] < 0) _exit(127);
  }
  for (size_t i = 0; i < spec.fds.size(); ++i) {
    if (dup2(moved[i], spec.fds[i].first) < 0) _exit(127);  // dup2 clears FD_CLOEXEC
  }
  syscall(SYS_close_range, first_free, ~0U, CLOSE_RANGE_CLOEXEC);
  if (spec.before_exec) spec.before_exec(spec.before_exec_context);
  execv(argv[0], argv);
  _exit(127);
}

}  // namespace

Result<pid_t> Spawn(const SpawnSpec& spec) {
  // Everything the child touches is allocated here, before fork.
  std::vector<std::string> strings = spec.argv;
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<int> moved(spec.fds.size() + 1, -1);
  int first_free = 3;
  for (const auto& [target, source] : spec.fds) first_free = std::max(first_free, target + 1);

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return MakeError(ErrorCode::kInternal, std::string("fork: ") + strerror(errno));
  if (pid == 0) ExecChild(spec, parent, argv.data(), moved.data(), first_free);
  // Also from the parent, so kill(-pid) works even before the child ran
  // (both calls are allowed; one wins).
  if (spec.own_process_group) setpgid(pid, pid);
  return pid;
}

}  // namespace vigil
