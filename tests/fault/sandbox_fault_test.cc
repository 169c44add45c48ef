// The sandbox, from outside: a real vigil-worker (chaos engine), locked
// down after load as it is in production (as `nobody` when the test runs as
// root), is made to try each forbidden action by fault injection. Each is
// denied (the worker says so and aborts) or killed by the seccomp filter
// (cause sandbox_violation, naming the call); the job is retried on a fresh
// worker and succeeds, and nothing the action aimed at happened.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "harness.h"

namespace vigil::supervisor::testing {
namespace {

using std::chrono::milliseconds;

struct SandboxCase {
  std::string kind;
  std::string cause;     // crash report cause
  std::string evidence;  // in the report's detail or stderr tail
};

class SandboxFault : public ::testing::TestWithParam<SandboxCase> {};

std::string Evidence(const nlohmann::json& crash) {
  std::string all = crash["detail"].get<std::string>();
  for (const auto& line : crash["stderr_tail"]) all += "\n" + line.get<std::string>();
  return all;
}

// One JSON line per case, which bench/sandbox.py collects into the result
// file behind the sandbox table in docs/architecture.md.
void PrintEvidence(const std::string& kind, const nlohmann::json& crash) {
  std::string said;
  for (const auto& line : crash["stderr_tail"]) {
    const std::string l = line.get<std::string>();
    if (l.find("forbidden_action") != std::string::npos || l.find("sandbox violation") != std::string::npos ||
        l.find("out of memory") != std::string::npos) {
      said = l;
    }
  }
  std::printf("[sandbox-evidence] %s\n",
              nlohmann::json{{"kind", kind}, {"cause", crash["cause"]}, {"detail", crash["detail"]},
                             {"worker_said", said}}.dump().c_str());
}

TEST_P(SandboxFault, ForbiddenActionIsStoppedAndTheJobRetried) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  const SandboxCase& c = GetParam();
  ::unlink("/tmp/vigil-sandbox-probe");
  SupervisorOptions o = ChaosOptions();
  if (::geteuid() == 0) o.worker_args.insert(o.worker_args.end(), {"--user", "nobody"});
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  auto out = h.Submit(WithFault(Prompt("sandbox " + c.kind), c.kind));
  ASSERT_TRUE(h.WaitEnded(out, milliseconds(8000)));
  EXPECT_TRUE(out->ok) << out->error.message;
  EXPECT_EQ(out->attempts, 2);
  auto crashes = WorkersJson(*h.sup)["workers"][0]["recent_crashes"];
  ASSERT_FALSE(crashes.empty());
  const auto& crash = crashes[crashes.size() - 1];
  const std::string evidence = Evidence(crash);
  PrintEvidence(c.kind, crash);
  EXPECT_EQ(crash["cause"], c.cause) << evidence;
  EXPECT_NE(evidence.find(c.evidence), std::string::npos) << evidence;
  EXPECT_EQ(evidence.find("forbidden_action_allowed"), std::string::npos) << evidence;
  struct stat st {};
  EXPECT_NE(::stat("/tmp/vigil-sandbox-probe", &st), 0) << "the probe file was created";
}

INSTANTIATE_TEST_SUITE_P(
    EveryForbiddenAction, SandboxFault,
    ::testing::Values(SandboxCase{"sandbox_write", "signal", "error=\"Permission denied\""},
                      SandboxCase{"sandbox_exec", "sandbox_violation", "execve"},
                      SandboxCase{"sandbox_connect", "sandbox_violation", "socket"},
                      SandboxCase{"sandbox_read", "signal", "error=\"Permission denied\""}),
    [](const auto& info) { return info.param.kind; });

// Allocating past the worker's memory limit kills only the worker: the job
// ends typed (worker_crashed naming out of memory), the pool serves on.
TEST(SandboxFault, AllocationPastTheLimitEndsTypedAndTheServiceStaysUp) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  SupervisorOptions o = ChaosOptions();
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  auto out = h.Submit(WithFault(Prompt("too big"), "oom", "before_first_token", 0, /*every_attempt=*/true));
  ASSERT_TRUE(h.WaitEnded(out, milliseconds(10000)));
  EXPECT_FALSE(out->ok);
  EXPECT_EQ(out->error.code, ErrorCode::kWorkerCrashed);
  EXPECT_NE(out->error.message.find("out of memory"), std::string::npos) << out->error.message;
  auto crashes = WorkersJson(*h.sup)["workers"][0]["recent_crashes"];
  ASSERT_FALSE(crashes.empty());
  PrintEvidence("oom", crashes[crashes.size() - 1]);
  auto after = h.Submit(Prompt("still up"));
  ASSERT_TRUE(h.WaitEnded(after, milliseconds(8000)));
  EXPECT_TRUE(after->ok) << after->error.message;
}

// The start log says what the lock-down applied.
TEST(SandboxFault, TheWorkerLogsWhatWasApplied) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  SupervisorOptions o = ChaosOptions();
  if (::geteuid() == 0) o.worker_args.insert(o.worker_args.end(), {"--user", "nobody"});
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  auto out = h.Submit(WithFault(Prompt("evidence"), "abort"));
  ASSERT_TRUE(h.WaitEnded(out, milliseconds(8000)));
  auto crash = WorkersJson(*h.sup)["workers"][0]["recent_crashes"][0];
  const std::string evidence = Evidence(crash);
  EXPECT_NE(evidence.find("sandbox_applied stage=after_load"), std::string::npos) << evidence;
  EXPECT_NE(evidence.find("seccomp=on"), std::string::npos) << evidence;
  EXPECT_NE(evidence.find("landlock="), std::string::npos) << evidence;
  if (::geteuid() == 0) {
    EXPECT_NE(evidence.find("user=nobody"), std::string::npos) << evidence;
  }
}

}  // namespace
}  // namespace vigil::supervisor::testing
