// The one way vigil starts a child: descriptors land where asked, nothing
// else leaks into the child, and an exec failure is exit 127.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "common/spawn.h"
#include "common/unique_fd.h"

namespace vigil {
namespace {

struct ShellRun {
  int status = -1;
  std::string out;
};

// Runs `sh -c script` with its stdout (and fd 5, when `five`) on a pipe.
ShellRun RunShell(const std::string& script, bool five = false) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  SpawnSpec spec{.argv = {"/bin/sh", "-c", script}, .fds = {{STDOUT_FILENO, write_end.get()}}};
  if (five) spec.fds.emplace_back(5, write_end.get());
  Result<pid_t> pid = Spawn(spec);
  EXPECT_TRUE(pid.ok());
  write_end.Reset();
  ShellRun r;
  char buf[512];
  for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof buf)) > 0;) r.out.append(buf, size_t(n));
  ::waitpid(*pid, &r.status, 0);
  return r;
}

TEST(Spawn, DescriptorsLandWhereAsked) {
  ShellRun r = RunShell("echo one; echo five >&5", /*five=*/true);
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
  EXPECT_EQ(r.out, "one\nfive\n");
}

TEST(Spawn, NothingElseLeaksIntoTheChild) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);  // no O_CLOEXEC: the parent's carelessness
  UniqueFd a(fds[0]), b(fds[1]);
  ShellRun r = RunShell("test -e /proc/self/fd/" + std::to_string(a.get()) + " && echo leaked; echo done");
  EXPECT_EQ(r.out, "done\n");
}

TEST(Spawn, ExecFailureExits127) {
  Result<pid_t> pid = Spawn({.argv = {"/nonexistent/vigil-no-such-binary"}});
  ASSERT_TRUE(pid.ok());
  int status = 0;
  ::waitpid(*pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 127);
}

}  // namespace
}  // namespace vigil
