// The sandbox in-process: each test forks (the measures are irreversible),
// applies them as a worker does, and checks what is still allowed.
#include "worker/sandbox.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace vigil::worker {
namespace {

// Runs fn in a forked child and returns its exit code, or 100 + signal.
template <typename Fn>
int InChild(Fn fn) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

// The lock-down a loaded worker applies (as nobody when root).
int LockedChild(int (*action)()) {
  return InChild([action] {
    (void)ApplySandbox({});
    Result<std::string> locked = LockDown({.user = ::geteuid() == 0 ? "nobody" : ""});
    if (!locked) return 90;
    if (locked->find("seccomp=on") == std::string::npos) return 91;
    return action();
  });
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

TEST(SandboxTest, ExecIsKilledWithSigsys) {
  EXPECT_EQ(LockedChild([] {
              ::execl("/bin/true", "true", static_cast<char*>(nullptr));
              return 1;
            }),
            100 + SIGSYS);
}

TEST(SandboxTest, NewSocketsAreKilled) {
  EXPECT_EQ(LockedChild([] { return ::socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 1; }), 100 + SIGSYS);
  EXPECT_EQ(LockedChild([] { return ::socket(AF_UNIX, SOCK_STREAM, 0) >= 0 ? 0 : 1; }), 100 + SIGSYS);
}

TEST(SandboxTest, NamespacesAndPtraceAreKilled) {
  EXPECT_EQ(LockedChild([] { return ::unshare(CLONE_NEWNS); }), 100 + SIGSYS);
  EXPECT_EQ(LockedChild([] { return ::unshare(CLONE_NEWUSER); }), 100 + SIGSYS);
}

TEST(SandboxTest, WritingAFileIsDeniedButReadingAndThreadsWork) {
  EXPECT_EQ(LockedChild([] {
              const int fd = ::open("/tmp/vigil-sandbox-unit", O_WRONLY | O_CREAT, 0600);
              return fd < 0 && errno == EACCES ? 0 : 1;
            }),
            0);
  EXPECT_EQ(LockedChild([] { return ::open("/tmp", O_RDWR | O_TMPFILE, 0600) < 0 ? 0 : 1; }), 0);
  // Serving still works: threads (clone3 falls back to clone), socketpair
  // (the protocol's kind of socket is inherited, never made), reading a
  // mapped library.
  EXPECT_EQ(LockedChild([] {
              int ok = 0;
              std::thread t([&] { ok = 1; });
              t.join();
              int sv[2];
              if (!ok) return 2;
              if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 3;
              return 0;
            }),
            0);
}

TEST(SandboxTest, AnUnknownUserIsAnError) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching users needs root";
  EXPECT_EQ(InChild([] { return SwitchUser("no-such-user-vigil").ok() ? 1 : 0; }), 0);
  EXPECT_EQ(InChild([] {
              Result<std::string> r = SwitchUser("nobody");
              if (!r || ::geteuid() == 0 || ::getegid() == 0) return 1;
              return ::setuid(0) == 0 ? 2 : 0;  // no way back
            }),
            0);
}

}  // namespace
}  // namespace vigil::worker
