// The llama engine running several jobs at once (--jobs N) on the tiny
// random-weight Gemma 3 pair: one llama_decode per step for every running
// job, each job its own sequence. Above all: a greedy job's text does not
// depend on what else shares its steps (the supervisor replays greedy jobs
// after a crash and compares). Skipped without the model files.
#include <cstdlib>

#include <gtest/gtest.h>

#include "test_images.h"
#include "worker_harness.h"

namespace vigil::testing {
namespace {

using protocol::MessageType;

uint64_t JobOf(const protocol::Frame& f) { return f.header.value("job", uint64_t{0}); }

struct Spec {
  std::string prompt;
  int64_t max_tokens;
  std::string image;  // encoded; empty: text only
};

protocol::Frame Greedy(uint64_t id, const Spec& s) {
  protocol::Frame f = JobFrame(id, s.prompt, s.max_tokens, s.image);
  f.header["params"]["ignore_eos"] = true;  // full length: more steps shared
  return f;
}

std::string Words(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "word" + std::to_string(i % 37) + " ";
  return s;
}

class LlamaBatch : public ::testing::Test {
 protected:
  void SetUp() override {
    if (TinyModel().empty() || TinyMmproj().empty()) {
      if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true") {
        FAIL() << "tiny model not found in " << VIGIL_TEST_MODEL_DIR;
      }
      GTEST_SKIP() << "tiny model not found in " << VIGIL_TEST_MODEL_DIR;
    }
  }
  std::unique_ptr<WorkerProcess> Start(int jobs, int ctx, protocol::Loaded* loaded = nullptr) {
    auto w = std::make_unique<WorkerProcess>(std::vector<std::string>{
        "--engine", "llama", "--model", TinyModel(), "--mmproj", TinyMmproj(), "--threads", "1",
        "--ctx", std::to_string(ctx), "--jobs", std::to_string(jobs)});
    EXPECT_TRUE(w->Handshake(loaded));
    return w;
  }
  // Each spec run alone, one after the other, on a fresh --jobs 1 worker.
  std::vector<std::string> Alone(const std::vector<Spec>& specs, int ctx) {
    auto w = Start(1, ctx);
    std::vector<std::string> texts;
    for (size_t i = 0; i < specs.size(); ++i) {
      w->Send(Greedy(500 + i, specs[i]));
      JobResult r = CollectJob(*w);
      EXPECT_TRUE(r.done) << i << ": " << (r.failed ? r.failed->message : "");
      texts.push_back(r.done ? r.done->text : "");
    }
    return texts;
  }
  std::vector<Spec> Mixed() {
    const std::string png = EncodePng(Split(96, 80, 0xFF0000FF, 0x0000FFFF), PngKind::kRgb8);
    const std::string png2 = EncodePng(Split(64, 64, 0x00FF00FF, 0xFFFF00FF), PngKind::kRgb8);
    return {{"Hello there", 40, {}},
            {"Describe the image.", 30, png},
            {Words(60), 25, {}},  // a long prompt (~290 tokens): prefilled beside generating jobs
            {"Tell me a story about a cat", 50, {}},
            {"What colour?", 20, png2},
            {Words(140), 10, {}}};  // ~670 tokens > n_batch (512): prefilled in chunks
  }
};

TEST_F(LlamaBatch, CapacityAndPerJobContextAreAnnounced) {
  protocol::Loaded loaded;
  auto w = Start(4, 512, &loaded);
  EXPECT_EQ(loaded.capacity, 4);
  EXPECT_EQ(loaded.model.n_ctx, 512) << "n_ctx is the budget of each job";
}

TEST_F(LlamaBatch, GreedyTextDoesNotDependOnTheBatch) {
  const std::vector<Spec> specs = Mixed();
  const std::vector<std::string> alone = Alone(specs, 1024);
  auto w = Start(4, 1024);
  // All at once: more jobs than capacity, so newcomers join between steps
  // as others end.
  for (size_t i = 0; i < specs.size(); ++i) w->Send(Greedy(i + 1, specs[i]));
  std::map<uint64_t, JobResult> r = CollectJobs(*w, specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    ASSERT_TRUE(r[i + 1].done) << i << ": " << (r[i + 1].failed ? r[i + 1].failed->message : "");
    EXPECT_EQ(r[i + 1].done->text, alone[i]) << "job " << i + 1 << " (all at once)";
  }
  // Staggered: each newcomer arrives while earlier ones are mid-generation
  // (after the previous job's first piece), into freed and reused sequences.
  std::map<uint64_t, std::string> texts;
  auto read = [&](uint64_t until_piece_of) {
    for (;;) {
      std::optional<protocol::Frame> f = w->NextMessage(std::chrono::milliseconds(30000));
      if (!f) return false;
      if (f->type == MessageType::kFailed) ADD_FAILURE() << protocol::ParseFailed(*f)->message;
      if (f->type == MessageType::kDone) texts[JobOf(*f)] = protocol::ParseDone(*f)->text;
      if (f->type == MessageType::kPiece && JobOf(*f) == until_piece_of) return true;
      if (until_piece_of == 0 && texts.size() == specs.size()) return true;
    }
  };
  for (size_t i = 0; i < specs.size(); ++i) {
    w->Send(Greedy(101 + i, specs[i]));
    ASSERT_TRUE(read(101 + i)) << w->Stderr();
  }
  ASSERT_TRUE(read(0)) << w->Stderr();
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(texts[101 + i], alone[i]) << "job " << i + 1 << " (staggered)";
  }
}

TEST_F(LlamaBatch, SequencesAreFreedAndReused) {
  // The context holds 2 x 256 cells: 6 jobs that each fill their whole
  // budget only fit if every ended job gives its cells back.
  auto w = Start(2, 256);
  for (uint64_t id = 1; id <= 6; ++id) {
    protocol::Frame f = Greedy(id, {"Count to a thousand " + std::to_string(id), 100000, {}});
    w->Send(f);
  }
  std::map<uint64_t, JobResult> r = CollectJobs(*w, 6);
  for (uint64_t id = 1; id <= 6; ++id) {
    ASSERT_TRUE(r[id].done) << id << ": " << (r[id].failed ? r[id].failed->message : "");
    EXPECT_EQ(r[id].done->finish_reason, "length");
    // 256 in the cache, plus the last token sampled and never decoded.
    EXPECT_EQ(r[id].done->usage.prompt_tokens + r[id].done->usage.completion_tokens, 257) << id;
  }
}

TEST_F(LlamaBatch, CancelOneJobOthersFinishUnchanged) {
  const std::vector<Spec> keep = {{"Hello there", 60, {}}, {"Tell me a story", 60, {}}};
  const std::vector<std::string> alone = Alone(keep, 512);
  auto w = Start(3, 512);
  w->Send(Greedy(1, keep[0]));
  w->Send(Greedy(2, {"cancel me", 100000, {}}));
  w->Send(Greedy(3, keep[1]));
  while (std::optional<protocol::Frame> f = w->NextMessage()) {
    if (f->type == MessageType::kPiece && JobOf(*f) == 2) break;
  }
  w->Send(protocol::ToFrame(protocol::Cancel{2}));
  std::map<uint64_t, JobResult> r = CollectJobs(*w, 3);
  ASSERT_TRUE(r[2].done);
  EXPECT_EQ(r[2].done->finish_reason, "cancelled");
  ASSERT_TRUE(r[1].done && r[3].done);
  EXPECT_EQ(r[1].done->text, alone[0]);
  EXPECT_EQ(r[3].done->text, alone[1]);
  EXPECT_EQ(r[1].done->usage.completion_tokens, 60);
}

TEST_F(LlamaBatch, FailedNewcomersDoNotDisturbRunningJobs) {
  const std::vector<Spec> keep = {{"Hello there", 80, {}}, {"Describe a dog", 80, {}}};
  const std::vector<std::string> alone = Alone(keep, 512);
  auto w = Start(4, 512);
  w->Send(Greedy(1, keep[0]));
  w->Send(Greedy(2, keep[1]));
  while (std::optional<protocol::Frame> f = w->NextMessage()) {
    if (f->type == MessageType::kPiece && JobOf(*f) == 2) break;
  }
  std::string png = EncodePng(Split(64, 64, 0xFF0000FF, 0x0000FFFF), PngKind::kRgb8);
  w->Send(Greedy(3, {"Describe.", 4, png.substr(0, png.size() / 2)}));
  w->Send(Greedy(4, {Words(200), 4, {}}));
  std::map<uint64_t, JobResult> r = CollectJobs(*w, 4);
  ASSERT_TRUE(r[3].failed);
  EXPECT_EQ(r[3].failed->code, ErrorCode::kInvalidImage);
  ASSERT_TRUE(r[4].failed);
  EXPECT_EQ(r[4].failed->code, ErrorCode::kPromptTooLong);
  ASSERT_TRUE(r[1].done && r[2].done);
  EXPECT_EQ(r[1].done->text, alone[0]);
  EXPECT_EQ(r[2].done->text, alone[1]);
}

}  // namespace
}  // namespace vigil::testing

namespace vigil::testing {
namespace {

// Pieces carry the ids of their tokens; a job sent again with the first K
// of them as resume_tokens streams the same first text, counts the K as
// generated, and ends at max_tokens: the worker prefilled them instead of
// generating them one by one.
TEST_F(LlamaBatch, ResumeTokensContinueWhereTheDeadWorkerStopped) {
  const std::string png = EncodePng(Split(96, 80, 0xFF0000FF, 0x0000FFFF), PngKind::kRgb8);
  auto w = Start(2, 1024);
  w->Send(Greedy(1, {"Describe the image.", 24, png}));
  std::vector<int32_t> tokens;
  std::string text;
  for (;;) {
    std::optional<protocol::Frame> f = w->NextMessage(std::chrono::milliseconds(30000));
    ASSERT_TRUE(f);
    if (f->type == MessageType::kPiece) {
      auto piece = protocol::ParsePiece(*f);
      ASSERT_TRUE(piece.ok());
      EXPECT_FALSE(piece->tokens.empty()) << "a piece without its token ids";
      tokens.insert(tokens.end(), piece->tokens.begin(), piece->tokens.end());
    }
    if (f->type == MessageType::kDone) {
      text = protocol::ParseDone(*f)->text;
      break;
    }
    ASSERT_NE(f->type, MessageType::kFailed);
  }
  ASSERT_EQ(tokens.size(), 24u);

  protocol::Frame again = Greedy(2, {"Describe the image.", 24, png});
  const std::vector<int32_t> first(tokens.begin(), tokens.begin() + 10);
  again.header["resume_tokens"] = first;
  w->Send(again);
  JobResult r = CollectJob(*w);
  ASSERT_TRUE(r.done) << (r.failed ? r.failed->message : "");
  EXPECT_EQ(r.done->usage.completion_tokens, 24);
  // The resumed tokens' text comes out again, first; the rest is the model's
  // continuation after them (numerically it may differ from the first run's).
  std::string resumed_text;
  {
    auto w1 = Start(1, 1024);
    protocol::Frame only = Greedy(3, {"Describe the image.", 10, png});
    w1->Send(only);
    JobResult r1 = CollectJob(*w1);
    ASSERT_TRUE(r1.done);
    resumed_text = r1.done->text;  // greedy: the same 10 tokens as the first run's first 10
  }
  EXPECT_EQ(r.done->text.substr(0, resumed_text.size()), resumed_text);
  EXPECT_EQ(text.substr(0, resumed_text.size()), resumed_text);

  protocol::Frame bad = Greedy(4, {"x", 4, {}});
  bad.header["resume_tokens"] = std::vector<int32_t>{1 << 30};
  w->Send(bad);
  JobResult rb = CollectJob(*w);
  ASSERT_TRUE(rb.failed);
  EXPECT_EQ(rb.failed->code, ErrorCode::kInvalidRequest);
}

}  // namespace
}  // namespace vigil::testing
