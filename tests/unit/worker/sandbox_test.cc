#include "worker/sandbox.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <gtest/gtest.h>

namespace vigil::worker {
namespace {

// Runs fn in a forked child (the sandbox is irreversible) and returns its exit code.
template <typename Fn>
int InChild(Fn fn) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(SandboxTest, NoNetworkButUnixSocketsStillWork) {
  const int code = InChild([] {
    const std::string report = ApplySandbox({});
    if (report.find("net=open") != std::string::npos) return 10;  // nothing applied
    const int inet = ::socket(AF_INET, SOCK_STREAM, 0);
    // In a fresh network namespace socket() works but nothing is reachable:
    // only loopback exists, and it is down. Connecting to the host fails.
    if (inet >= 0 && report.find("net=netns") == std::string::npos) return 11;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 12;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(SandboxTest, LimitsAndNoNewPrivs) {
  const int code = InChild([] {
    const std::string report = ApplySandbox({.memory_limit_mb = 4096, .max_open_files = 64});
    struct rlimit lim {};
    ::getrlimit(RLIMIT_CORE, &lim);
    if (lim.rlim_cur != 0) return 20;
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur != 64) return 21;
    ::getrlimit(RLIMIT_AS, &lim);
    if (lim.rlim_cur != rlim_t{4096} << 20) return 22;
    if (report.find("no_new_privs=on") == std::string::npos) return 23;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace vigil::worker
