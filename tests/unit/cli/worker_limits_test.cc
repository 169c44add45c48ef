// The workers' default user and memory limit, and which mechanism enforces it.
#include "cli/worker_limits.h"

#include <gtest/gtest.h>

namespace vigil::cli {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(WorkerLimits, CpuWithoutCgroupsUsesRlimitAsAndSaysWhy) {
  const WorkerLimits l = ChooseWorkerLimits({.processes = 2, .cgroup_v2_why_not = "no memory controller"},
                                            /*root=*/true, 16 * kGiB);
  EXPECT_EQ(l.memory_limit_mb, 6 * 1024);  // 3/4 of 16 GiB over 2 workers
  EXPECT_EQ(l.memory_mechanism, "rlimit_as");
  EXPECT_NE(l.summary.find("6144 MiB each (RLIMIT_AS; cgroup v2 unavailable: no memory controller)"),
            std::string::npos) << l.summary;
  EXPECT_EQ(l.args, (std::vector<std::string>{"--user", "nobody"}));
}

TEST(WorkerLimits, WithCgroupsTheSameLimitIsAMemoryMax) {
  const WorkerLimits l = ChooseWorkerLimits({.processes = 2, .cgroup_v2 = true}, false, 16 * kGiB);
  EXPECT_EQ(l.memory_limit_mb, 6 * 1024);
  EXPECT_EQ(l.memory_mechanism, "cgroup_v2");
  EXPECT_NE(l.summary.find("(cgroup v2 memory.max, no swap)"), std::string::npos) << l.summary;
  EXPECT_TRUE(l.args.empty());
}

TEST(WorkerLimits, GpuWorkersGetALimitOnlyThroughCgroups) {
  const WorkerLimits rlimit = ChooseWorkerLimits({.gpu = true, .cgroup_v2_why_not = "x"}, false, 16 * kGiB);
  EXPECT_EQ(rlimit.memory_limit_mb, 0);
  EXPECT_EQ(rlimit.memory_mechanism, "none");
  EXPECT_NE(rlimit.summary.find("GPU: RLIMIT_AS breaks drivers; cgroup v2 unavailable: x"), std::string::npos);
  const WorkerLimits cgroup = ChooseWorkerLimits({.gpu = true, .cgroup_v2 = true}, false, 16 * kGiB);
  EXPECT_EQ(cgroup.memory_limit_mb, 12 * 1024);
  EXPECT_EQ(cgroup.memory_mechanism, "cgroup_v2");
}

TEST(WorkerLimits, TheFloorAndTheExplicitValues) {
  // Twice the model files plus 2 GiB, however small the share.
  EXPECT_EQ(ChooseWorkerLimits({.processes = 8, .model_bytes = 3 * kGiB}, false, 8 * kGiB).memory_limit_mb,
            8 * 1024);
  EXPECT_EQ(ChooseWorkerLimits({.memory_limit_mb = 384}, false, 8 * kGiB).memory_limit_mb, 384);
  const WorkerLimits off = ChooseWorkerLimits({.memory_limit_mb = 0, .cgroup_v2 = true}, false, 8 * kGiB);
  EXPECT_EQ(off.memory_limit_mb, 0);
  EXPECT_EQ(off.memory_mechanism, "none");
}

TEST(WorkerLimits, TheLogSaysWhenTheUserSwitchHappens) {
  EXPECT_NE(ChooseWorkerLimits({}, /*root=*/true, 16 * kGiB).summary.find("nobody once loaded"),
            std::string::npos);
  EXPECT_NE(ChooseWorkerLimits({.external = true}, true, 16 * kGiB).summary.find("nobody from the start"),
            std::string::npos);
}

}  // namespace
}  // namespace vigil::cli
