#include "worker/sandbox_selftest.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "worker/fault.h"
#include "worker/sandbox.h"

namespace vigil::worker {
namespace {

constexpr int64_t kMemoryLimitMb = 512;

// Each probe returns 0 when the action succeeded, else 1 + errno.
int Denied() { return 1 + errno; }

int WriteOutside() {
  const int fd = ::open(kSandboxProbePath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Denied();
  ::unlink(kSandboxProbePath);
  return 0;
}
int ExecShell() {
  ::execl("/bin/sh", "sh", "-c", "exit 0", static_cast<char*>(nullptr));
  return Denied();
}
int ConnectLoopback() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Denied();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(9);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Refused means the packet went out: the network was reachable.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != ECONNREFUSED) return Denied();
  return 0;
}
int ReadForeign() {
  const int fd = ::open(kForeignFilePath, O_RDONLY | O_CLOEXEC);
  return fd < 0 ? Denied() : 0;
}
int TraceParent() { return ::ptrace(PTRACE_ATTACH, ::getppid(), nullptr, nullptr) != 0 ? Denied() : 0; }
int NewNamespace() { return ::unshare(CLONE_NEWNS) != 0 ? Denied() : 0; }
int AllocatePastLimit() {
  for (int64_t mb = 0; mb < 4 * kMemoryLimitMb; mb += 64) {
    void* p = std::malloc(64u << 20);
    if (!p) return 1 + ENOMEM;
    std::memset(p, 1, 64u << 20);
  }
  return 0;
}

struct Probe {
  const char* what;
  int (*run)();
};
const Probe kProbes[] = {
    {"write a file outside", WriteOutside},   {"exec a shell", ExecShell},
    {"connect to 127.0.0.1", ConnectLoopback}, {"read another user's file", ReadForeign},
    {"ptrace the supervisor", TraceParent},   {"make a mount namespace", NewNamespace},
    {"allocate past the limit", AllocatePastLimit},
};

// Sandboxes a child exactly as a loaded worker is, runs the probe, and
// returns the wait status; the lock-down report comes back through `report`.
int RunProbe(const Probe& probe, std::string& report) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string line = ApplySandbox({.memory_limit_mb = kMemoryLimitMb});
    Result<std::string> locked = LockDown({.user = ::geteuid() == 0 ? "nobody" : ""});
    line += " " + (locked ? *locked : "lockdown-failed(" + locked.error().message + ")");
    (void)!::write(fds[1], line.data(), line.size());
    ::close(fds[1]);
    ::_exit(probe.run());
  }
  ::close(fds[1]);
  char buf[1024];
  ssize_t n;
  report.clear();
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

int RunSandboxSelftest() {
  // The crash handler is not installed here: a trapped call dies by SIGSYS.
  utsname u{};
  ::uname(&u);
  std::printf("vigil-worker sandbox self-test: kernel %s, running as uid %d%s\n", u.release, ::geteuid(),
              ::geteuid() == 0 ? " (probes run as nobody)" : "");
  int allowed = 0;
  std::string report;
  for (const Probe& probe : kProbes) {
    const int status = RunProbe(probe, report);
    if (&probe == &kProbes[0]) std::printf("  sandbox: %s\n", report.c_str());
    std::string verdict;
    if (WIFSIGNALED(status)) {
      verdict = std::string("killed (") + sigabbrev_np(WTERMSIG(status)) + ")";
      if (WTERMSIG(status) == SIGSYS) verdict = "killed (SIGSYS: seccomp trapped the call)";
    } else if (WIFEXITED(status) && WEXITSTATUS(status) > 0) {
      verdict = std::string("denied (") + std::strerror(WEXITSTATUS(status) - 1) + ")";
    } else {
      verdict = "ALLOWED";
      ++allowed;
    }
    std::printf("  %-28s %s\n", probe.what, verdict.c_str());
  }
  std::fflush(stdout);
  return allowed == 0 ? 0 : 1;
}

}  // namespace vigil::worker
