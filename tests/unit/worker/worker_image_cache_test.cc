// The llama worker's image embedding cache (src/worker/engine/
// embedding_cache.h) on the tiny model: a repeated image is not encoded
// again, and the answer does not change. Skipped without the tiny model,
// like worker_llama_test.cc.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_images.h"
#include "worker_harness.h"

namespace vigil::testing {
namespace {

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

class ImageCache : public ::testing::Test {
 protected:
  void SetUp() override {
    if (TinyModel().empty() || TinyMmproj().empty()) {
      if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true") {
        FAIL() << "tiny model not found in " << VIGIL_TEST_MODEL_DIR;
      }
      GTEST_SKIP() << "tiny model not found in " << VIGIL_TEST_MODEL_DIR;
    }
  }

  std::unique_ptr<WorkerProcess> Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--engine", "llama", "--model", TinyModel(), "--mmproj",
                                     TinyMmproj(), "--threads", "1", "--ctx", "512"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto w = std::make_unique<WorkerProcess>(args);
    EXPECT_TRUE(w->Handshake());
    return w;
  }

  // A greedy job of 12 tokens (EOS ignored, so the texts are long enough
  // to compare) on `image`; the Done, or a test failure.
  protocol::Done Ask(WorkerProcess& w, uint64_t id, const std::string& image) {
    protocol::Frame job = JobFrame(id, "Describe the image.", 12, image);
    job.header["params"]["ignore_eos"] = true;
    w.Send(job);
    JobResult r = CollectJob(w);
    EXPECT_TRUE(r.done) << (r.failed ? r.failed->message : "no answer") << "\n" << w.Stderr();
    if (!r.done) return {};
    bool encode_done = false;
    for (const auto& p : r.progress) encode_done |= p.phase == "image_encode" && p.done == 1;
    EXPECT_TRUE(encode_done) << "image_encode progress is reported on a hit too";
    EXPECT_EQ(r.done->usage.completion_tokens, 12);
    return *r.done;
  }

  const Rgba red_blue_ = Split(96, 80, 0xFF0000FF, 0x0000FFFF);
  const Rgba green_white_ = Split(96, 80, 0x00FF00FF, 0xFFFFFFFF);
};

TEST_F(ImageCache, RepeatedImageSkipsEncodeAndAnswersTheSame) {
  auto w = Start();
  const std::string png = EncodePng(red_blue_, PngKind::kRgb8);
  const protocol::Done first = Ask(*w, 1, png);
  const protocol::Done second = Ask(*w, 2, png);
  // The skip is proved by the worker's own hit/miss log lines below, not by
  // timings: a loaded machine can stretch a lookup past any threshold.
  EXPECT_GT(first.timings.image_encode_ms, 0);
  EXPECT_FALSE(first.text.empty());
  EXPECT_EQ(second.text, first.text) << "cached embeddings must not change the answer";
  EXPECT_EQ(second.usage.prompt_tokens, first.usage.prompt_tokens);
  // Other bytes, same pixels (lossless WebP): the key is the decoded bitmap.
  const protocol::Done third = Ask(*w, 3, EncodeWebp(red_blue_, /*lossless=*/true));
  EXPECT_EQ(third.text, first.text);
  const std::string err = w->Stderr();
  EXPECT_EQ(Count(err, "image_cache_missed"), 1u) << err;
  EXPECT_EQ(Count(err, "image_cache_hit"), 2u) << err;
}

TEST_F(ImageCache, DifferentImageMissesAndBothStayCached) {
  auto w = Start();
  const std::string a = EncodePng(red_blue_, PngKind::kRgb8);
  const std::string b = EncodePng(green_white_, PngKind::kRgb8);
  const protocol::Done a1 = Ask(*w, 1, a);
  const protocol::Done b1 = Ask(*w, 2, b);
  EXPECT_GT(a1.timings.image_encode_ms, 0);
  EXPECT_GT(b1.timings.image_encode_ms, 0);
  EXPECT_EQ(Count(w->Stderr(), "image_cache_missed"), 2u) << w->Stderr();
  EXPECT_EQ(Count(w->Stderr(), "image_cache_hit"), 0u) << w->Stderr();
  const protocol::Done a2 = Ask(*w, 3, a);
  const protocol::Done b2 = Ask(*w, 4, b);
  EXPECT_EQ(a2.text, a1.text);
  EXPECT_EQ(b2.text, b1.text);
  EXPECT_EQ(Count(w->Stderr(), "image_cache_hit"), 2u) << w->Stderr();
  // A text-only job in between leaves the cache alone.
  w->Send(JobFrame(5, "Hello", 3));
  ASSERT_TRUE(CollectJob(*w).done);
  EXPECT_EQ(Ask(*w, 6, a).text, a1.text);
  EXPECT_EQ(Count(w->Stderr(), "image_cache_hit"), 3u) << w->Stderr();
}

TEST_F(ImageCache, DisabledAlwaysEncodesAndMatchesTheCachedAnswer) {
  const std::string png = EncodePng(red_blue_, PngKind::kRgb8);
  auto off = Start({"--image-cache-mb", "0"});
  const protocol::Done first = Ask(*off, 1, png);
  const protocol::Done second = Ask(*off, 2, png);
  EXPECT_GT(first.timings.image_encode_ms, 0);
  EXPECT_GT(second.timings.image_encode_ms, 0);
  EXPECT_EQ(second.text, first.text);
  EXPECT_EQ(Count(off->Stderr(), "image_cache_"), 0u) << off->Stderr();

  auto on = Start();
  Ask(*on, 1, png);
  const protocol::Done hit = Ask(*on, 2, png);
  EXPECT_EQ(Count(on->Stderr(), "image_cache_hit"), 1u) << on->Stderr();
  EXPECT_EQ(hit.text, first.text) << "a cache hit answers as an uncached worker does";
}

}  // namespace
}  // namespace vigil::testing

namespace vigil::testing {
namespace {

// By hand, not in CI: the time to first token, first vs repeated image, on
// the bench-size pair (make_vlm.py --size bench --out DIR):
//   VIGIL_BENCH_MODEL_DIR=DIR worker_process_test --gtest_filter='ImageCacheBench.*'
TEST(ImageCacheBench, TimeToFirstToken) {
  const char* dir = std::getenv("VIGIL_BENCH_MODEL_DIR");
  if (!dir) GTEST_SKIP() << "set VIGIL_BENCH_MODEL_DIR to a bench-size model pair";
  const std::string png = EncodePng(Split(800, 600, 0xFF0000FF, 0x0000FFFF), PngKind::kRgb8);
  for (const char* cache_mb : {"256", "0"}) {
    WorkerProcess w({"--engine", "llama", "--model", std::string(dir) + "/vigil-bench-text.gguf",
                     "--mmproj", std::string(dir) + "/vigil-bench-mmproj.gguf", "--ctx", "2048",
                     "--image-cache-mb", cache_mb});
    ASSERT_TRUE(w.Handshake());
    // A job cancelled mid-encode leaves nothing in the cache (the encoder
    // stops with partial embeddings): the next job still encodes.
    w.Send(JobFrame(99, "Describe the image.", 4, png));
    for (std::optional<protocol::Frame> f; (f = w.NextMessage(milliseconds(60000)));) {
      if (f->type != protocol::MessageType::kProgress) continue;
      if (protocol::ParseProgress(*f)->phase == "image_encode") break;
    }
    w.Send(protocol::ToFrame(protocol::Cancel{99}));
    JobResult cancelled = CollectJob(w, milliseconds(60000));
    ASSERT_TRUE(cancelled.done);
    EXPECT_EQ(cancelled.done->finish_reason, "cancelled");
    std::string text;
    for (uint64_t id = 1; id <= 3; ++id) {
      const auto start = std::chrono::steady_clock::now();
      w.Send(JobFrame(id, "Describe the image.", 4, png));
      std::optional<protocol::Frame> f;
      do {
        f = w.NextMessage(milliseconds(120000));
        ASSERT_TRUE(f) << w.Stderr();
      } while (f->type != protocol::MessageType::kPiece && f->type != protocol::MessageType::kDone);
      const double ttft = std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - start).count();
      JobResult r = CollectJob(w, milliseconds(120000));
      ASSERT_TRUE(r.done);
      if (id == 1) text = r.done->text;
      EXPECT_EQ(r.done->text, text);
      EXPECT_EQ(r.done->timings.image_encode_ms > 1, id == 1 || cache_mb == std::string("0"));
      const protocol::Timings& t = r.done->timings;
      std::printf("cache %s MiB, job %d: TTFT %.0f ms (image decode %.1f, encode %.1f, "
                  "prefill %.1f ms)\n", cache_mb, static_cast<int>(id), ttft, t.image_decode_ms,
                  t.image_encode_ms, t.prefill_ms);
    }
    std::printf("%s", w.Stderr().c_str());
  }
}

}  // namespace
}  // namespace vigil::testing
