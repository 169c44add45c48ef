// Workers in their own cgroup v2 (supervisor/memory_cgroup.h), with the real
// vigil-worker (chaos engine):
// - against a fake cgroup tree (runs everywhere): a worker SIGKILLed from
//   outside is reported as cause oom, with memory.events as evidence, exactly
//   when its cgroup's memory.events counts an OOM kill, and as a plain signal
//   otherwise;
// - against the real cgroupfs, where this machine lets vigil create cgroups
//   (a delegated subtree with the memory controller): the oom fault
//   allocates past memory.max, the kernel kills the worker, the job ends
//   typed naming out of memory and the OOM kill, the pool serves on.
//   Skipped, saying why, where cgroups cannot be created.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "harness.h"

namespace vigil::supervisor::testing {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

nlohmann::json LastCrash(Harness& h) {
  auto crashes = WorkersJson(*h.sup)["workers"][0]["recent_crashes"];
  return crashes.empty() ? nlohmann::json() : crashes[crashes.size() - 1];
}

class FakeTreeCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    own_ = fs::temp_directory_path() / ("vigil-cgroup-fault-" + std::to_string(::getpid()));
    fs::create_directories(own_);
    std::ofstream(own_ / "cgroup.controllers") << "cpu memory pids\n";
  }
  void TearDown() override { fs::remove_all(own_); }

  // Kills the loaded worker from outside, after writing `events` into its
  // cgroup's memory.events; returns the crash report.
  nlohmann::json KillWorkerWith(const std::string& events) {
    if (WorkerBinary().empty()) return {};
    auto cgroups = WorkerCgroups::Create(own_.string(), ::getpid());
    EXPECT_TRUE(cgroups.ok());
    SupervisorOptions o = ChaosOptions();
    o.worker_address_space_limit = 0;
    o.worker_cgroups = *cgroups;
    o.worker_cgroup_memory_max = int64_t{384} << 20;
    Harness h(o);
    EXPECT_TRUE(h.WaitReady());
    const fs::path dir = fs::path((*cgroups)->base()) / "worker-w0.0";
    EXPECT_TRUE(fs::exists(dir / "memory.max"));
    std::ofstream(dir / "memory.events") << events;
    const int pid = WorkersJson(*h.sup)["workers"][0]["pid"].get<int>();
    EXPECT_EQ(std::to_string(pid), [&] {
      std::ifstream in(dir / "cgroup.procs");
      std::string s;
      in >> s;
      return s;
    }()) << "the launcher did not move the worker into its cgroup";
    ::kill(pid, SIGKILL);
    EXPECT_TRUE(h.WaitEvents("worker_exited", 1));
    return LastCrash(h);
  }
  fs::path own_;
};

TEST_F(FakeTreeCgroup, AnOomKillCountedInTheCgroupIsCauseOomWithEvidence) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  const auto crash = KillWorkerWith("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n");
  EXPECT_EQ(crash["cause"], "oom") << crash.dump();
  const std::string detail = crash["detail"];
  EXPECT_NE(detail.find("out of memory"), std::string::npos) << detail;
  EXPECT_NE(detail.find("memory.max (384 MiB; memory.events: max 12 oom 1 oom_kill 1)"), std::string::npos) << detail;
}

TEST_F(FakeTreeCgroup, ASigkillWithoutAnOomKillIsJustASignal) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  const auto crash = KillWorkerWith("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
  EXPECT_EQ(crash["cause"], "signal") << crash.dump();
}

// A worker that cannot be moved into its cgroup would run unlimited: it is
// killed at once, the spawn fails typed, and the next incarnation runs.
TEST_F(FakeTreeCgroup, AWorkerThatCannotJoinItsCgroupDoesNotRun) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  auto cgroups = WorkerCgroups::Create(own_.string(), ::getpid());
  ASSERT_TRUE(cgroups.ok());
  const fs::path first = fs::path((*cgroups)->base()) / "worker-w0.0";
  fs::create_directories(first);
  fs::create_symlink("/dev/full", first / "cgroup.procs");  // opens for writing, every write fails
  SupervisorOptions o = ChaosOptions();
  o.worker_address_space_limit = 0;
  o.worker_cgroups = *cgroups;
  o.worker_cgroup_memory_max = int64_t{384} << 20;
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  const auto crash = WorkersJson(*h.sup)["workers"][0]["recent_crashes"][0];
  EXPECT_EQ(crash["cause"], "spawn_failed") << crash.dump();
  EXPECT_NE(crash["detail"].get<std::string>().find("cannot move the worker into its cgroup"), std::string::npos);
  std::ifstream in(fs::path((*cgroups)->base()) / "worker-w0.1" / "cgroup.procs");
  int pid = 0;
  in >> pid;
  EXPECT_EQ(pid, WorkersJson(*h.sup)["workers"][0]["pid"].get<int>());
}

TEST(RealCgroup, AllocationPastMemoryMaxIsKilledByTheKernelAndNamed) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  auto cgroups = WorkerCgroups::CreateForThisProcess();
  if (!cgroups.ok()) GTEST_SKIP() << "cgroup v2 cannot be created here: " << cgroups.error().message;
  SupervisorOptions o = ChaosOptions();
  o.worker_address_space_limit = 0;
  o.worker_cgroups = *cgroups;
  o.worker_cgroup_memory_max = int64_t{256} << 20;
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  auto out = h.Submit(WithFault(Prompt("too big"), "oom", "before_first_token", 0, /*every_attempt=*/true));
  ASSERT_TRUE(h.WaitEnded(out, milliseconds(20000)));
  EXPECT_FALSE(out->ok);
  EXPECT_EQ(out->error.code, ErrorCode::kWorkerCrashed);
  EXPECT_NE(out->error.message.find("out of memory"), std::string::npos) << out->error.message;
  const auto crash = LastCrash(h);
  std::printf("[cgroup oom] %s: %s\n", crash["cause"].get<std::string>().c_str(),
              crash["detail"].get<std::string>().c_str());
  EXPECT_EQ(crash["cause"], "oom");
  EXPECT_NE(crash["detail"].get<std::string>().find("oom_kill 1"), std::string::npos);
  auto after = h.Submit(Prompt("still up"));
  ASSERT_TRUE(h.WaitEnded(after, milliseconds(8000)));
  EXPECT_TRUE(after->ok) << after->error.message;
}

}  // namespace
}  // namespace vigil::supervisor::testing
