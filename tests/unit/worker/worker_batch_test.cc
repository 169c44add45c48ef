// A worker running several jobs at once (--jobs N, protocol 2) with the
// chaos engine: capacity in `loaded`, per-job text, cancel, failure and
// fault, heartbeats, and never more than capacity jobs at once.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <set>

#include "test_images.h"
#include "worker_harness.h"

namespace vigil::testing {
namespace {

using protocol::MessageType;
using Clock = std::chrono::steady_clock;

std::vector<std::string> Chaos(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--engine", "chaos"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}


uint64_t JobOf(const protocol::Frame& f) { return f.header.value("job", uint64_t{0}); }

// Reads frames until the first piece of `job`; false on EOF or timeout.
bool WaitFirstPiece(WorkerProcess& w, uint64_t job) {
  while (std::optional<protocol::Frame> f = w.NextMessage()) {
    if (f->type == MessageType::kPiece && JobOf(*f) == job) return true;
  }
  return false;
}

// The text each prompt gets when it runs alone.
std::map<std::string, std::string> AloneTexts(const std::vector<std::string>& prompts, int64_t n) {
  WorkerProcess w(Chaos({}));
  EXPECT_TRUE(w.Handshake());
  std::map<std::string, std::string> texts;
  uint64_t id = 1000;
  for (const auto& p : prompts) {
    w.Send(JobFrame(++id, p, n));
    texts[p] = CollectJob(w).done->text;
  }
  return texts;
}

TEST(Batch, CapacityIsAnnouncedAndBounded) {
  for (auto [flag, want] : {std::pair<std::string, int64_t>{"", 1}, {"4", 4}, {"256", 256}}) {
    WorkerProcess w(Chaos(flag.empty() ? std::vector<std::string>{}
                                       : std::vector<std::string>{"--jobs", flag}));
    protocol::Loaded loaded;
    ASSERT_TRUE(w.Handshake(&loaded));
    EXPECT_EQ(loaded.capacity, want);
  }
  for (std::string bad : {"0", "257", "x"}) {
    WorkerProcess w(Chaos({"--jobs", bad}));
    std::optional<int> status = w.WaitExit();
    ASSERT_TRUE(status && WIFEXITED(*status)) << bad;
    EXPECT_EQ(WEXITSTATUS(*status), protocol::kExitFatalConfig) << bad;
  }
}

TEST(Batch, JobsRunAtOnceEachWithItsOwnText) {
  const std::vector<std::string> prompts = {"one", "two words", "three word prompt", "four"};
  const auto alone = AloneTexts(prompts, 20);
  WorkerProcess w(Chaos({"--jobs", "4", "--chaos-tokens-per-second", "50"}));
  ASSERT_TRUE(w.Handshake());
  for (size_t i = 0; i < prompts.size(); ++i) w.Send(JobFrame(i + 1, prompts[i], 20));
  // At 50 tokens/s a job takes 0.4 s: one at a time, the first Done would
  // come long after the others began; together, every job has pieces by then.
  std::set<uint64_t> streaming;
  std::map<uint64_t, JobResult> results;
  while (std::optional<protocol::Frame> f = w.NextMessage()) {
    if (f->type == MessageType::kPiece) streaming.insert(JobOf(*f));
    if (f->type == MessageType::kDone) {
      EXPECT_EQ(streaming.size(), 4u) << "every job streams before the first ends";
      results = CollectJobs(w, 3);
      results[JobOf(*f)].done = *protocol::ParseDone(*f);
      break;
    }
  }
  ASSERT_EQ(results.size(), 4u);
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(results[i + 1].done) << i;
    EXPECT_EQ(results[i + 1].done->text, alone.at(prompts[i])) << prompts[i];
    EXPECT_EQ(results[i + 1].done->finish_reason, "length");
  }
}

TEST(Batch, NeverMoreThanCapacityAtOnce) {
  WorkerProcess w(Chaos({"--jobs", "2", "--chaos-tokens-per-second", "500"}));
  ASSERT_TRUE(w.Handshake());
  for (uint64_t id = 1; id <= 8; ++id) w.Send(JobFrame(id, "job " + std::to_string(id), 5));
  std::set<uint64_t> active, ended;
  size_t most = 0;
  while (ended.size() < 8) {
    std::optional<protocol::Frame> f = w.NextMessage();
    ASSERT_TRUE(f) << w.Stderr();
    const uint64_t id = JobOf(*f);
    if (f->type == MessageType::kDone || f->type == MessageType::kFailed) {
      EXPECT_EQ(f->type, MessageType::kDone);
      active.erase(id);
      EXPECT_TRUE(ended.insert(id).second);
    } else {
      active.insert(id);
    }
    most = std::max(most, active.size());
  }
  EXPECT_EQ(most, 2u);
}

TEST(Batch, CancelOneJobWhileOthersKeepRunning) {
  const auto alone = AloneTexts({"keep one", "keep two"}, 15);
  WorkerProcess w(Chaos({"--jobs", "3", "--chaos-tokens-per-second", "50"}));
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(1, "keep one", 15));
  w.Send(JobFrame(2, "cancel me", 1000));
  w.Send(JobFrame(3, "keep two", 15));
  ASSERT_TRUE(WaitFirstPiece(w, 2));
  w.Send(protocol::ToFrame(protocol::Cancel{2}));
  w.Send(protocol::ToFrame(protocol::Cancel{999}));  // unknown: ignored
  std::map<uint64_t, JobResult> r = CollectJobs(w, 3);
  ASSERT_TRUE(r[2].done);
  EXPECT_EQ(r[2].done->finish_reason, "cancelled");
  EXPECT_LT(r[2].done->usage.completion_tokens, 10);
  ASSERT_TRUE(r[1].done && r[3].done);
  EXPECT_EQ(r[1].done->text, alone.at("keep one"));
  EXPECT_EQ(r[3].done->text, alone.at("keep two"));
  EXPECT_EQ(r[1].done->usage.completion_tokens, 15);
  // A cancel for a finished job is ignored too; the worker still serves.
  w.Send(protocol::ToFrame(protocol::Cancel{1}));
  w.Send(JobFrame(4, "keep one", 15));
  EXPECT_EQ(CollectJob(w).done->text, alone.at("keep one"));
}

TEST(Batch, QueuedJobCancelledEndsCancelledWithoutRunning) {
  WorkerProcess w(Chaos({"--jobs", "2", "--chaos-tokens-per-second", "200"}));
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(1, "first", 5));
  w.Send(JobFrame(2, "second", 5));
  w.Send(JobFrame(3, "third", 5));
  w.Send(protocol::ToFrame(protocol::Cancel{3}));
  std::map<uint64_t, JobResult> r = CollectJobs(w, 3);
  EXPECT_EQ(r[1].done->finish_reason, "length");
  EXPECT_EQ(r[2].done->finish_reason, "length");
  ASSERT_TRUE(r[3].done);
  EXPECT_EQ(r[3].done->finish_reason, "cancelled");
  EXPECT_TRUE(r[3].pieces.empty());
}

TEST(Batch, FailedNewcomerDoesNotDisturbRunningJobs) {
  const auto alone = AloneTexts({"steady one", "steady two"}, 12);
  WorkerProcess w(Chaos({"--jobs", "4", "--chaos-tokens-per-second", "50"}));
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(1, "steady one", 12));
  w.Send(JobFrame(2, "steady two", 12));
  ASSERT_TRUE(WaitFirstPiece(w, 1));
  std::string png = EncodePng(Split(64, 64, 0xFF0000FF, 0x0000FFFF), PngKind::kRgb8);
  w.Send(JobFrame(3, "look", 4, png.substr(0, png.size() / 2)));
  std::string prompt;
  for (int i = 0; i < 5000; ++i) prompt += "word ";
  w.Send(JobFrame(4, prompt, 4));
  std::map<uint64_t, JobResult> r = CollectJobs(w, 4);
  ASSERT_TRUE(r[3].failed);
  EXPECT_EQ(r[3].failed->code, ErrorCode::kInvalidImage);
  ASSERT_TRUE(r[4].failed);
  EXPECT_EQ(r[4].failed->code, ErrorCode::kPromptTooLong);
  ASSERT_TRUE(r[1].done && r[2].done);
  EXPECT_EQ(r[1].done->text, alone.at("steady one"));
  EXPECT_EQ(r[2].done->text, alone.at("steady two"));
}

TEST(Batch, HeartbeatNamesARunningJobAndAdvances) {
  WorkerProcess w(Chaos({"--jobs", "2", "--chaos-tokens-per-second", "20"}));
  ASSERT_TRUE(w.Handshake());
  // 1.5 s of decoding: many beats, even on a loaded machine.
  w.Send(JobFrame(1, "slow one", 30));
  w.Send(JobFrame(2, "slow two", 30));
  ASSERT_TRUE(WaitFirstPiece(w, 2));
  w.heartbeats.clear();
  CollectJobs(w, 2);
  ASSERT_GE(w.heartbeats.size(), 2u);
  for (const auto& hb : w.heartbeats) {
    if (hb.phase == "idle") continue;  // the last beat may follow the end
    EXPECT_EQ(hb.phase, "decode");
    EXPECT_TRUE(hb.job_id == 1 || hb.job_id == 2) << hb.job_id;
  }
  EXPECT_GT(w.heartbeats.back().progress, w.heartbeats.front().progress);
}

TEST(Batch, FaultInOneJobKillsTheWorker) {
  WorkerProcess w(Chaos({"--jobs", "3", "--allow-fault-injection", "--chaos-tokens-per-second", "100"}));
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(1, "bystander", 1000));
  w.Send(JobFrame(2, "bystander too", 1000));
  ASSERT_TRUE(WaitFirstPiece(w, 2));
  w.Send(JobFrame(3, "poison", 50, {}, protocol::FaultSpec{"exit", "after_tokens", 3, 9}));
  int poison_pieces = 0;
  while (std::optional<protocol::Frame> f = w.NextMessage()) {
    EXPECT_NE(f->type, MessageType::kDone);
    poison_pieces += f->type == MessageType::kPiece && JobOf(*f) == 3;
  }
  EXPECT_EQ(poison_pieces, 3) << "after_tokens counts that job's pieces only";
  std::optional<int> status = w.WaitExit();
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 9);
}

TEST(Batch, SegfaultReportNamesThePoisonedJob) {
  WorkerProcess w(Chaos({"--jobs", "2", "--allow-fault-injection", "--chaos-tokens-per-second", "100"}));
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(1, "bystander", 1000));
  ASSERT_TRUE(WaitFirstPiece(w, 1));
  w.Send(JobFrame(7, "poison", 50, {}, protocol::FaultSpec{"segfault", "before_first_token", 0, 1}));
  std::optional<int> status = w.WaitExit();
  ASSERT_TRUE(status && WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGSEGV);
  EXPECT_NE(w.Stderr().find("in phase decode job 7"), std::string::npos) << w.Stderr();
}

}  // namespace
}  // namespace vigil::testing
