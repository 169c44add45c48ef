// ChooseTuning: what `vigil serve` runs with when no tuning flag is set.
#include "cli/tuning.h"

#include <gtest/gtest.h>

namespace vigil::cli {
namespace {

Machine Cpu(int cores) { return Machine{cores, {}}; }

Machine WithGpus(int cores, int n, int64_t free_bytes) {
  Machine m{cores, {}};
  for (int i = 0; i < n; ++i) m.gpus.push_back({"Vulkan" + std::to_string(i), free_bytes, free_bytes});
  return m;
}

TEST(Tuning, CpuOnlyIsOneBatchedWorkerOnEveryCore) {
  const Tuning t = ChooseTuning(Cpu(2), {});
  EXPECT_EQ(t.workers, 1);
  EXPECT_EQ(t.jobs, 4);
  EXPECT_EQ(t.threads, 2);
  EXPECT_EQ(t.spare_workers, 0);
  EXPECT_EQ(t.basis, "2 cores, no GPU");
}

TEST(Tuning, NeverMoreEngineThreadsThanCores) {
  for (int cores : {1, 2, 3, 8, 64}) {
    for (int workers : {0, 1, 2, 3, 16}) {
      TuningRequest r;
      r.workers = workers;
      const Tuning t = ChooseTuning(Cpu(cores), r);
      EXPECT_GE(t.threads, 1);
      if (t.workers <= cores) {
        EXPECT_LE(t.threads * t.workers, cores) << cores << " cores, " << t.workers;
      }
    }
  }
}

TEST(Tuning, FlagsWinAndTheRestFollowThem) {
  TuningRequest r;
  r.workers = 2;
  Tuning t = ChooseTuning(Cpu(2), r);
  EXPECT_EQ(t.threads, 1);  // 2 workers on 2 cores
  r.threads = 3;
  r.jobs = 7;
  r.spare_workers = 2;
  t = ChooseTuning(Cpu(2), r);
  EXPECT_EQ(t.threads, 3);
  EXPECT_EQ(t.jobs, 7);
  EXPECT_EQ(t.spare_workers, 2);
}

TEST(Tuning, OneWorkerPerGpuWithASpareWhenMemoryAllows) {
  TuningRequest r;
  r.model_bytes = int64_t{1} << 30;
  Tuning t = ChooseTuning(WithGpus(16, 2, int64_t{140} << 30), r);
  EXPECT_EQ(t.workers, 2);
  EXPECT_EQ(t.jobs, 8);
  EXPECT_EQ(t.spare_workers, 1);
  EXPECT_EQ(t.threads, 4);  // at most 4 on a GPU: the CPU only samples
  EXPECT_EQ(t.basis, "16 cores, 2 GPUs");
  t = ChooseTuning(WithGpus(16, 1, int64_t{2} << 30), r);  // 2 GiB free for a 1 GiB model
  EXPECT_EQ(t.workers, 1);
  EXPECT_EQ(t.spare_workers, 0);
}

TEST(Tuning, GpuLayersZeroMeansTheCpuRules) {
  TuningRequest r;
  r.gpu_layers = 0;
  const Tuning t = ChooseTuning(WithGpus(4, 2, int64_t{80} << 30), r);
  EXPECT_EQ(t.workers, 1);
  EXPECT_EQ(t.jobs, 4);
  EXPECT_EQ(t.threads, 4);
  EXPECT_EQ(t.basis, "4 cores, GPU not used (--gpu-layers 0)");
}

}  // namespace
}  // namespace vigil::cli
