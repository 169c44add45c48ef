#include "worker/options.h"

#include <gtest/gtest.h>

#include <vector>

namespace vigil::worker {
namespace {

Result<WorkerOptions> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "vigil-worker");
  return ParseWorkerOptions(static_cast<int>(args.size()), args.data());
}

TEST(Options, ChaosDefaults) {
  Result<WorkerOptions> o = Parse({"--fd", "2", "--engine", "chaos"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->fd, 2);
  EXPECT_EQ(o->ctx, 4096);
  EXPECT_EQ(o->max_image_pixels, 50'000'000);
  EXPECT_EQ(o->chaos_tokens_per_second, 2000);
  EXPECT_FALSE(o->allow_fault_injection);
}

TEST(Options, AllFlags) {
  Result<WorkerOptions> o = Parse({"--fd", "2", "--engine", "llama", "--model", "a.gguf", "--mmproj",
                                   "b.gguf", "--ctx", "8192", "--threads", "3", "--gpu-layers", "0",
                                   "--max-image-pixels", "1000", "--allow-fault-injection",
                                   "--fault-at-load", "hang_busy", "--chaos-tokens-per-second", "5",
                                   "--chaos-load-ms", "20"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->ctx, 8192);
  EXPECT_EQ(o->gpu_layers, 0);
  EXPECT_EQ(o->fault_at_load, "hang_busy");
  EXPECT_EQ(o->chaos_load_ms, 20);
}

TEST(Options, JobsDefaultsToOneAndIsBounded) {
  Result<WorkerOptions> o = Parse({"--fd", "2", "--engine", "chaos"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->jobs, 1);
  o = Parse({"--fd", "2", "--engine", "chaos", "--jobs", "256"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->jobs, 256);
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--jobs", "0"}).ok());
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--jobs", "257"}).ok());
}

TEST(Options, Device) {
  Result<WorkerOptions> o = Parse({"--fd", "2", "--engine", "chaos"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->device, "");  // llama.cpp's choice
  o = Parse({"--fd", "2", "--engine", "llama", "--model", "a.gguf", "--mmproj", "b.gguf", "--device",
             "Vulkan1", "--gpu-layers", "20"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->device, "Vulkan1");
  EXPECT_EQ(o->gpu_layers, 20);
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--device"}).ok());  // no name
}

TEST(Options, CtxCeilingIsTwoToThe28) {
  Result<WorkerOptions> o = Parse({"--fd", "2", "--engine", "chaos", "--ctx", "4194305"});  // 2^22 + 1
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->ctx, (1 << 22) + 1);
  o = Parse({"--fd", "2", "--engine", "chaos", "--ctx", "268435456"});  // 2^28
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->ctx, 1 << 28);
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--ctx", "268435457"}).ok());
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--ctx", "63"}).ok());
}

TEST(Options, RejectsBadConfiguration) {
  EXPECT_FALSE(Parse({"--engine", "chaos"}).ok());                       // no --fd
  EXPECT_FALSE(Parse({"--fd", "987", "--engine", "chaos"}).ok());        // fd not open
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "gpt"}).ok());
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "llama"}).ok());          // no model
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--ctx", "0"}).ok());
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--bogus"}).ok());
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--fault-at-load", "abort"}).ok());
  EXPECT_FALSE(Parse({"--fd", "2", "--engine", "chaos", "--allow-fault-injection",
                      "--fault-at-load", "meteor"}).ok());
}

}  // namespace
}  // namespace vigil::worker
