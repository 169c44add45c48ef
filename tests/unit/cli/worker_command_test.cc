// --worker-command: word splitting without a shell, PATH look-up, and the
// hardening an external worker gets (cli/worker_command.h).
#include "cli/worker_command.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace vigil::cli {
namespace {

using Words = std::vector<std::string>;

Words Split(std::string_view text) {
  auto words = SplitCommandLine(text);
  EXPECT_TRUE(words.ok()) << text << ": " << words.error().message;
  return words.ok() ? *words : Words{};
}

TEST(SplitCommandLine, BlanksSeparateWords) {
  EXPECT_EQ(Split("python3 -m  my_engine\t--x 1 "), (Words{"python3", "-m", "my_engine", "--x", "1"}));
}

TEST(SplitCommandLine, QuotesAndEscapesAsAShellHasThem) {
  EXPECT_EQ(Split("run 'a b' \"c d\" e\\ f"), (Words{"run", "a b", "c d", "e f"}));
  EXPECT_EQ(Split("run 'it''s' \"say \\\"hi\\\" \\n\""), (Words{"run", "its", "say \"hi\" \\n"}));
  EXPECT_EQ(Split("run ''"), (Words{"run", ""}));
  EXPECT_EQ(Split("run a'b'\"c\""), (Words{"run", "abc"}));
}

TEST(SplitCommandLine, NoExpansion) {
  EXPECT_EQ(Split("run $HOME ~ * $(id) `id`"), (Words{"run", "$HOME", "~", "*", "$(id)", "`id`"}));
}

TEST(SplitCommandLine, MalformedIsATypedError) {
  for (std::string_view bad : {"run 'open", "run \"open", "run \\", "", "   "}) {
    auto words = SplitCommandLine(bad);
    ASSERT_FALSE(words.ok()) << bad;
    EXPECT_EQ(words.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(words.error().message.find("--worker-command"), std::string::npos);
  }
}

TEST(ParseWorkerCommand, FindsTheProgramInPath) {
  auto cmd = ParseWorkerCommand("sh -c 'exit 0'", "/nonexistent:/bin:/usr/bin");
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  EXPECT_EQ(cmd->program, "/bin/sh");
  EXPECT_EQ(cmd->args, (Words{"-c", "exit 0"}));
  auto missing = ParseWorkerCommand("no-such-program-vigil x", "/bin:/usr/bin");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("not found in PATH"), std::string::npos);
  EXPECT_FALSE(ParseWorkerCommand("/nonexistent/prog", "/bin").ok());
  EXPECT_TRUE(ParseWorkerCommand("/bin/sh", "").ok());
}

TEST(ExternalWorkerHardening, SandboxBeforeExec) {
  auto h = ExternalWorkerHardening("");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->no_new_privs);
  EXPECT_TRUE(h->new_network_namespace);
  EXPECT_GT(h->max_open_files, 0);
  EXPECT_EQ(h->uid, -1);
  auto root = ExternalWorkerHardening("0");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->uid, 0);
  auto nobody = ExternalWorkerHardening("nobody");
  ASSERT_TRUE(nobody.ok());
  EXPECT_GT(nobody->uid, 0);
  EXPECT_FALSE(ExternalWorkerHardening("no-such-user-vigil").ok());
}

// The CI case: vigil runs as root from a checkout only root may enter, and
// its default worker user (nobody) cannot import the package in PYTHONPATH.
TEST(PathsTheWorkerUserCannotReach, NamesWhatTheWorkerUserCannotEnter) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to take another user's ids";
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/vigil-reach-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path top(tmpl), closed = top / "closed", open = top / "open";
  fs::create_directories(closed / "pkg");
  fs::create_directories(open / "pkg");
  ::chmod(tmpl, 0755);
  ::chmod(closed.c_str(), 0700);
  ::chmod(open.c_str(), 0755);
  ::chmod((open / "pkg").c_str(), 0755);

  auto nobody = ExternalWorkerHardening("nobody");
  ASSERT_TRUE(nobody.ok());
  auto cmd = ParseWorkerCommand("env PYTHONPATH=" + open.string() + ":" + closed.string() + " sh " +
                                (closed / "pkg").string() + " " + (open / "pkg").string() + " -m x",
                                "/usr/bin:/bin");
  ASSERT_TRUE(cmd.ok());
  const std::string pythonpath = (closed / "pkg").string() + ":/no/such/dir:" + open.string();
  EXPECT_EQ(PathsTheWorkerUserCannotReach(*nobody, *cmd, pythonpath),
            (std::vector<std::string>{closed.string(), (closed / "pkg").string(), (closed / "pkg").string()}));
  // The supervisor's own user: nothing to probe.
  EXPECT_TRUE(PathsTheWorkerUserCannotReach(*ExternalWorkerHardening(""), *cmd, pythonpath).empty());
  fs::remove_all(top);
}

}  // namespace
}  // namespace vigil::cli
