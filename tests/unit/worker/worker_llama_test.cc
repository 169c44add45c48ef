// The real vigil-worker with the llama engine on the tiny random-weight
// Gemma 3 pair (tools/modelgen/make_vlm.py). Skipped when the files are not
// in VIGIL_TEST_MODEL_DIR.
#include <cstdlib>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "test_images.h"
#include "worker_harness.h"

namespace vigil::testing {
namespace {

using protocol::MessageType;

class LlamaWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    if (TinyModel().empty() || TinyMmproj().empty()) {
      // The build generates the model (target tiny_model); in CI a missing
      // model is a broken build, not a reason to skip.
      if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true") {
        FAIL() << "tiny model not found in " << VIGIL_TEST_MODEL_DIR;
      }
      GTEST_SKIP() << "tiny model not found in " << VIGIL_TEST_MODEL_DIR;
    }
    worker_ = std::make_unique<WorkerProcess>(std::vector<std::string>{
        "--engine", "llama", "--model", TinyModel(), "--mmproj", TinyMmproj(), "--threads", "1",
        "--ctx", "512"});
    ASSERT_TRUE(worker_->Handshake(&loaded_));
  }
  std::unique_ptr<WorkerProcess> worker_;
  protocol::Loaded loaded_;
};

TEST_F(LlamaWorker, LoadReportsTimeAndFacts) {
  EXPECT_GT(loaded_.load_ms, 0);
  EXPECT_EQ(loaded_.model.arch, "gemma3");
  EXPECT_EQ(loaded_.model.n_ctx, 512);
  EXPECT_GT(loaded_.model.n_ctx_train, 0);
  EXPECT_EQ(loaded_.model.image_size, 64);
  EXPECT_GT(loaded_.model.n_params, 0);
  EXPECT_FALSE(loaded_.model.device.empty());
  EXPECT_FALSE(loaded_.model.name.empty());
}

TEST_F(LlamaWorker, AnswersAnImageInEachFormat) {
  const Rgba img = Split(96, 80, 0xFF0000FF, 0x0000FFFF);
  struct Case {
    std::string format, bytes;
  };
  const std::vector<Case> cases = {{"png", EncodePng(img, PngKind::kRgb8)},
                                   {"jpeg", EncodeJpeg(img)},
                                   {"webp", EncodeWebp(img, false)},
                                   {"gif", EncodeGif(img)}};
  uint64_t id = 100;
  for (const Case& c : cases) {
    worker_->Send(JobFrame(++id, "Describe the image.", 8, c.bytes));
    JobResult r = CollectJob(*worker_);
    ASSERT_TRUE(r.done) << c.format << ": " << (r.failed ? r.failed->message : "no answer");
    const protocol::Done& d = *r.done;
    EXPECT_FALSE(d.text.empty()) << c.format;
    EXPECT_EQ(d.text, [&] { std::string s; for (auto& p : r.pieces) s += p; return s; }());
    EXPECT_TRUE(d.finish_reason == "length" || d.finish_reason == "stop") << d.finish_reason;
    EXPECT_GT(d.usage.prompt_tokens, 16) << "16 image tokens plus the prompt";
    EXPECT_GE(d.usage.completion_tokens, 1);
    EXPECT_LE(d.usage.completion_tokens, 8);
    EXPECT_GT(d.timings.image_decode_ms, 0);
    EXPECT_GT(d.timings.image_encode_ms, 0);
    EXPECT_GT(d.timings.prefill_ms, 0);
    EXPECT_GT(d.timings.decode_ms, 0);
    ASSERT_EQ(d.images.size(), 1u) << c.format;
    EXPECT_EQ(d.images[0].format, c.format);
    EXPECT_EQ(d.images[0].width, 96);
    EXPECT_EQ(d.images[0].height, 80);
    EXPECT_EQ(d.images[0].model_width, 96);  // full size: libmtmd resizes, as in llama-server
    EXPECT_EQ(d.images[0].model_height, 80);
    bool encode = false, prefill = false;
    for (const auto& p : r.progress) {
      encode |= p.phase == "image_encode";
      prefill |= p.phase == "prefill" && p.done == p.total && p.total == d.usage.prompt_tokens;
    }
    EXPECT_TRUE(encode && prefill) << c.format;
  }
}

TEST_F(LlamaWorker, TextOnlyJobAndDeterministicGreedy) {
  worker_->Send(JobFrame(1, "Hello there", 6));
  JobResult a = CollectJob(*worker_);
  ASSERT_TRUE(a.done);
  EXPECT_TRUE(a.done->images.empty());
  worker_->Send(JobFrame(2, "Hello there", 6));
  JobResult b = CollectJob(*worker_);
  ASSERT_TRUE(b.done);
  EXPECT_EQ(a.done->text, b.done->text) << "KV cache cleared between jobs; greedy is deterministic";
}

TEST_F(LlamaWorker, CorruptImageIsInvalidImage) {
  std::string png = EncodePng(Split(64, 64, 0xFF0000FF, 0x0000FFFF), PngKind::kRgb8);
  png.resize(png.size() / 2);
  worker_->Send(JobFrame(1, "Describe.", 4, png));
  JobResult r = CollectJob(*worker_);
  ASSERT_TRUE(r.failed);
  EXPECT_EQ(r.failed->code, ErrorCode::kInvalidImage);
}

TEST_F(LlamaWorker, PromptTooLong) {
  std::string prompt;
  for (int i = 0; i < 600; ++i) prompt += "rectangle ";
  worker_->Send(JobFrame(1, prompt, 4));
  JobResult r = CollectJob(*worker_);
  ASSERT_TRUE(r.failed);
  EXPECT_EQ(r.failed->code, ErrorCode::kPromptTooLong);
}

TEST_F(LlamaWorker, CancelMidGenerationStops) {
  protocol::Frame job = JobFrame(3, "Describe the image.", 100000);
  job.header["params"]["ignore_eos"] = true;
  worker_->Send(job);
  std::optional<protocol::Frame> f;
  do {
    f = worker_->NextMessage();
    ASSERT_TRUE(f);
  } while (f->type != MessageType::kPiece);
  worker_->Send(protocol::ToFrame(protocol::Cancel{3}));
  JobResult r = CollectJob(*worker_);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.done->finish_reason, "cancelled");
  // The tiny model makes thousands of tokens a second, so some were in
  // flight; the context (512) bounds a worker that ignored the cancel.
  EXPECT_LT(r.done->usage.completion_tokens, 400);
}

TEST_F(LlamaWorker, StopStringAndShutdown) {
  worker_->Send(JobFrame(1, "Describe the image.", 12));
  const std::string full = CollectJob(*worker_).done->text;
  ASSERT_GT(full.size(), 4u);
  const std::string stop = full.substr(full.size() / 2, 3);
  worker_->Send(JobFrame(2, "Describe the image.", 12, {}, {}, {stop}));
  JobResult r = CollectJob(*worker_);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.done->finish_reason, "stop");
  EXPECT_EQ(r.done->text, full.substr(0, full.find(stop)));
  worker_->Send(protocol::ToFrame(protocol::Shutdown{}));
  std::optional<int> status = worker_->WaitExit();
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

}  // namespace
}  // namespace vigil::testing
