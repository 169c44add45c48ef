#include "supervisor/launcher.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace vigil::supervisor {
namespace {

Error ErrnoError(const char* what) {
  return MakeError(ErrorCode::kInternal, std::string(what) + ": " + strerror(errno));
}

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void ChildExec(pid_t parent, int channel, int out_write, int devnull, char** argv,
                            int64_t address_space_limit) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the parent died before prctl
  setpgid(0, 0);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);  // SIG_IGN survives exec
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  if (address_space_limit > 0) {
    struct rlimit as = {static_cast<rlim_t>(address_space_limit), static_cast<rlim_t>(address_space_limit)};
    setrlimit(RLIMIT_AS, &as);
  }
  // Move the channel out of the way of 0-3 first, so the dup2s below never
  // clobber it.
  int ch = fcntl(channel, F_DUPFD, 10);
  if (ch < 0 || dup2(devnull, 0) < 0 || dup2(out_write, 1) < 0 || dup2(out_write, 2) < 0 ||
      dup2(ch, kWorkerChannelFd) < 0) {
    _exit(127);
  }
  // dup2 clears FD_CLOEXEC on the new descriptor; everything else goes.
  syscall(SYS_close_range, kWorkerChannelFd + 1, ~0U, CLOSE_RANGE_CLOEXEC);
  execv(argv[0], argv);
  _exit(127);
}

}  // namespace

Result<SpawnedProcess> SpawnWorkerProcess(const std::string& binary,
                                          const std::vector<std::string>& args,
                                          int64_t address_space_limit) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return ErrnoError("socketpair");
  UniqueFd ours(sv[0]), theirs(sv[1]);
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  UniqueFd out_read(pipefd[0]), out_write(pipefd[1]);
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoError("open /dev/null");

  // argv is built before fork: the child may not allocate.
  std::vector<std::string> strings;
  strings.push_back(binary);
  strings.insert(strings.end(), args.begin(), args.end());
  strings.push_back("--fd");
  strings.push_back(std::to_string(kWorkerChannelFd));
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) ChildExec(parent, theirs.get(), out_write.get(), devnull.get(), argv.data(),
                            address_space_limit);

  // Also set the group from the parent, so kill(-pid) works even if we
  // signal before the child ran (both calls are allowed; one wins).
  setpgid(pid, pid);
  SpawnedProcess p;
  p.pid = pid;
  p.pidfd.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  p.channel = std::move(ours);
  p.output = std::move(out_read);
  fcntl(p.channel.get(), F_SETFL, fcntl(p.channel.get(), F_GETFL) | O_NONBLOCK);
  fcntl(p.output.get(), F_SETFL, fcntl(p.output.get(), F_GETFL) | O_NONBLOCK);
  if (p.pidfd.valid()) fcntl(p.pidfd.get(), F_SETFD, FD_CLOEXEC);
  return p;
}

}  // namespace vigil::supervisor
