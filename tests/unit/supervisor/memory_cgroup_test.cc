// The cgroup v2 memory limit's logic against a fake cgroup tree (plain
// directories and files in a temporary directory): finding the own cgroup,
// refusing where the memory controller is missing, the files written per
// worker, moving a process in, and reading memory.events.
// The real cgroupfs behaviour (the kernel's OOM kill) is exercised by
// tests/fault/cgroup_fault_test.cc where this machine lets vigil create one.
#include "supervisor/memory_cgroup.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>


namespace vigil::supervisor {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void Write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

class FakeCgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("vigil-cgroup-test-" + std::to_string(::getpid()));
    own_ = root_ / "system.slice" / "vigil.service";
    fs::create_directories(own_);
    Write(own_ / "cgroup.controllers", "cpuset cpu io memory pids\n");
    Write(own_ / "cgroup.subtree_control", "\n");
    Write(own_ / "cgroup.procs", "4242\n");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_, own_;
};

TEST(OwnCgroupDir, JoinsTheCgroup2MountAndTheV2Path) {
  const std::string mountinfo =
      "25 1 0:23 / /sys rw - sysfs sysfs rw\n"
      "31 25 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
  auto dir = OwnCgroupDir(mountinfo, "0::/system.slice/vigil.service\n");
  ASSERT_TRUE(dir.ok()) << dir.error().message;
  EXPECT_EQ(*dir, "/sys/fs/cgroup/system.slice/vigil.service");
  // A container's own namespace: its cgroup is the root of what it sees.
  EXPECT_EQ(*OwnCgroupDir(mountinfo, "0::/\n"), "/sys/fs/cgroup");
}

TEST(OwnCgroupDir, HybridHierarchyUsesTheUnifiedMount) {
  // This machine's layout: v1 controllers, an empty cgroup2 at .../unified.
  const std::string mountinfo =
      "40 31 0:37 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
  auto dir = OwnCgroupDir(mountinfo, "4:memory:/process_api/x\n0::/\n");
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(*dir, "/sys/fs/cgroup/unified");
}

TEST(OwnCgroupDir, ASubtreeMountStripsItsRoot) {
  const std::string mountinfo = "50 40 0:30 /kubepods/pod1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(*OwnCgroupDir(mountinfo, "0::/kubepods/pod1/c1\n"), "/sys/fs/cgroup/c1");
  EXPECT_FALSE(OwnCgroupDir(mountinfo, "0::/elsewhere\n").ok());
}

TEST(OwnCgroupDir, NoV2IsAnErrorThatSaysSo) {
  auto v1_only = OwnCgroupDir("40 31 0:37 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
                              "4:memory:/x\n");
  ASSERT_FALSE(v1_only.ok());
  EXPECT_NE(v1_only.error().message.find("no cgroup v2 line"), std::string::npos);
  auto unmounted = OwnCgroupDir("25 1 0:23 / /sys rw - sysfs sysfs rw\n", "0::/a\n");
  ASSERT_FALSE(unmounted.ok());
  EXPECT_NE(unmounted.error().message.find("no cgroup2 file system"), std::string::npos);
}

TEST_F(FakeCgroupTree, CreateEnablesMemoryForTheWorkersBelowItsOwnDirectory) {
  auto cgroups = WorkerCgroups::Create(own_.string(), 4242);
  ASSERT_TRUE(cgroups.ok()) << cgroups.error().message;
  EXPECT_EQ((*cgroups)->base(), (own_ / "vigil-4242").string());
  EXPECT_FALSE((*cgroups)->moved_supervisor());
  EXPECT_EQ(Read(own_ / "cgroup.subtree_control"), "+memory");
  EXPECT_EQ(Read(own_ / "vigil-4242" / "cgroup.subtree_control"), "+memory");
}

TEST_F(FakeCgroupTree, AlreadyEnabledIsLeftAsItIs) {
  Write(own_ / "cgroup.subtree_control", "cpu memory\n");
  ASSERT_TRUE(WorkerCgroups::Create(own_.string(), 4242).ok());
  EXPECT_EQ(Read(own_ / "cgroup.subtree_control"), "cpu memory\n");
}

TEST_F(FakeCgroupTree, NoMemoryControllerMeansNoCgroupsAndNothingLeftBehind) {
  Write(own_ / "cgroup.controllers", "cpu io pids\n");
  auto cgroups = WorkerCgroups::Create(own_.string(), 4242);
  ASSERT_FALSE(cgroups.ok());
  EXPECT_NE(cgroups.error().message.find("memory controller is not available"), std::string::npos);
  EXPECT_FALSE(fs::exists(own_ / "vigil-4242"));
  EXPECT_FALSE(WorkerCgroups::Create((root_ / "absent").string(), 4242).ok());
}

TEST_F(FakeCgroupTree, AWorkerCgroupGetsItsLimitAndNoSwap) {
  auto cgroups = WorkerCgroups::Create(own_.string(), 4242);
  ASSERT_TRUE(cgroups.ok());
  // memory.swap.max exists only with swap accounting: pre-create it as the kernel would.
  const fs::path dir = own_ / "vigil-4242" / "worker-w0.3";
  fs::create_directories(dir);
  Write(dir / "memory.swap.max", "max\n");
  auto worker = (*cgroups)->MakeWorkerCgroup("worker-w0.3", int64_t{384} << 20);
  ASSERT_TRUE(worker.ok()) << worker.error().message;
  EXPECT_EQ(worker->dir, dir.string());
  EXPECT_EQ(Read(dir / "memory.max"), "402653184");
  EXPECT_EQ(Read(dir / "memory.swap.max"), "0");
  EXPECT_TRUE(worker->procs.valid());
}

TEST_F(FakeCgroupTree, MoveIntoWritesThePidAndSaysWhenItCannot) {
  auto cgroups = WorkerCgroups::Create(own_.string(), 4242);
  ASSERT_TRUE(cgroups.ok());
  auto worker = (*cgroups)->MakeWorkerCgroup("worker-w1.0", int64_t{64} << 20);
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(WorkerCgroups::MoveInto(*worker, 777).ok());
  EXPECT_EQ(Read(fs::path(worker->dir) / "cgroup.procs"), "777");
  WorkerCgroups::Worker unwritable{.dir = worker->dir, .procs = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC))};
  auto moved = WorkerCgroups::MoveInto(unwritable, 778);
  ASSERT_FALSE(moved.ok());
  EXPECT_NE(moved.error().message.find("cannot move the worker into its cgroup"), std::string::npos);
}

TEST_F(FakeCgroupTree, MemoryEventsNameTheOomKill) {
  const fs::path dir = own_ / "w";
  fs::create_directories(dir);
  EXPECT_EQ(WorkerCgroups::ReadOomEvents(dir.string()).oom_kill, 0);  // no file: nothing known
  Write(dir / "memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n");
  Write(dir / "memory.peak", "421527552\n");
  const OomEvents events = WorkerCgroups::ReadOomEvents(dir.string());
  EXPECT_EQ(events.oom_kill, 1);
  EXPECT_EQ(events.evidence, "memory.events: max 7 oom 1 oom_kill 1; memory.peak 402 MiB");
}

}  // namespace
}  // namespace vigil::supervisor
