// The real vigil-worker binary with the chaos engine: handshake, jobs,
// cancellation, exit codes, and every fault kind doing what it says.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "test_images.h"
#include "worker_harness.h"

namespace vigil::testing {
namespace {

using protocol::MessageType;

std::vector<std::string> Chaos(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--engine", "chaos"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string Join(const std::vector<std::string>& pieces) {
  std::string s;
  for (const auto& p : pieces) s += p;
  return s;
}

protocol::FaultSpec Fault(std::string kind, std::string at = "before_first_token",
                          int64_t after = 0, int64_t exit_code = 1) {
  return protocol::FaultSpec{std::move(kind), std::move(at), after, exit_code};
}

TEST(WorkerProcess, HandshakeThenIdleHeartbeatsThenShutdown) {
  WorkerProcess w(Chaos());
  protocol::Loaded loaded;
  ASSERT_TRUE(w.Handshake(&loaded));
  EXPECT_EQ(loaded.model.name, "chaos");
  EXPECT_EQ(loaded.model.n_ctx, 4096);
  // Heartbeats arrive while idle: wait for two idle ones (bounded).
  while (w.heartbeats.size() < 3) {
    ASSERT_FALSE(w.NextMessage(std::chrono::milliseconds(200)).has_value());
    ASSERT_FALSE(w.eof());
  }
  EXPECT_EQ(w.heartbeats.back().phase, "idle");
  EXPECT_EQ(w.heartbeats.back().job_id, 0u);
  w.Send(protocol::ToFrame(protocol::Shutdown{}));
  std::optional<int> status = w.WaitExit();
  ASSERT_TRUE(status);
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), protocol::kExitClean);
}

TEST(WorkerProcess, ChaosJobStreamsPiecesThenDone) {
  WorkerProcess w(Chaos());
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(5, "three word prompt", 7));
  JobResult r = CollectJob(w);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.done->job_id, 5u);
  EXPECT_EQ(r.done->finish_reason, "length");
  EXPECT_EQ(r.pieces.size(), 7u);
  EXPECT_EQ(Join(r.pieces), r.done->text);
  EXPECT_EQ(r.done->text.rfind("chaos-", 0), 0u);
  EXPECT_EQ(r.done->usage.prompt_tokens, 3);
  EXPECT_EQ(r.done->usage.completion_tokens, 7);
  EXPECT_TRUE(r.done->images.empty());
  // Same job, same text: chaos is deterministic.
  w.Send(JobFrame(6, "three word prompt", 7));
  EXPECT_EQ(CollectJob(w).done->text, r.done->text);
}

TEST(WorkerProcess, StopStringEndsGenerationAndIsNotShown) {
  WorkerProcess w(Chaos());
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(1, "stop test", 5));
  const std::string full = CollectJob(w).done->text;
  const size_t third = full.find(' ', full.find(' ') + 1);  // " chaos-N" #3
  const std::string stop = full.substr(third, full.find(' ', third + 1) - third);
  w.Send(JobFrame(2, "stop test", 5, {}, {}, {stop}));
  JobResult r = CollectJob(w);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.done->finish_reason, "stop");
  EXPECT_EQ(r.done->text, full.substr(0, third));
  EXPECT_EQ(Join(r.pieces), r.done->text);
}

TEST(WorkerProcess, CancelStopsWithinOneToken) {
  WorkerProcess w(Chaos({"--chaos-tokens-per-second", "50"}));
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(9, "cancel me", 1000));
  std::optional<protocol::Frame> f;
  do {
    f = w.NextMessage();
    ASSERT_TRUE(f);
  } while (f->type != MessageType::kPiece);
  w.Send(protocol::ToFrame(protocol::Cancel{9}));
  JobResult r = CollectJob(w);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.done->finish_reason, "cancelled");
  EXPECT_LE(r.pieces.size(), 1u);  // pieces after the cancel was sent
  EXPECT_LE(r.done->usage.completion_tokens, 2);
}

TEST(WorkerProcess, ImageFactsAndTypedImageErrorsWithChaos) {
  WorkerProcess w(Chaos());
  ASSERT_TRUE(w.Handshake());
  const std::string png = EncodePng(Split(1792, 896 * 3, 0xFF0000FF, 0x0000FFFF), PngKind::kRgb8);
  w.Send(JobFrame(1, "look", 2, png));
  JobResult r = CollectJob(w);
  ASSERT_TRUE(r.done);
  ASSERT_EQ(r.done->images.size(), 1u);
  EXPECT_EQ(r.done->images[0].format, "png");
  EXPECT_EQ(r.done->images[0].width, 1792);
  EXPECT_EQ(r.done->images[0].height, 2688);
  EXPECT_EQ(r.done->images[0].model_width, 896);  // chaos asks for 896: short side
  EXPECT_EQ(r.done->images[0].model_height, 1344);
  EXPECT_GT(r.done->timings.image_decode_ms, 0);
  ASSERT_FALSE(r.progress.empty());
  EXPECT_EQ(r.progress.front().phase, "image_decode");

  w.Send(JobFrame(2, "look", 2, png.substr(0, png.size() / 2)));
  JobResult bad = CollectJob(w);
  ASSERT_TRUE(bad.failed);
  EXPECT_EQ(bad.failed->code, ErrorCode::kInvalidImage);
  w.Send(JobFrame(3, "look", 2, "just some text"));
  EXPECT_EQ(CollectJob(w).failed->code, ErrorCode::kUnsupportedImageFormat);
  protocol::Frame big = JobFrame(4, "look", 2, png);
  big.header["max_image_pixels"] = 1000;
  w.Send(big);
  EXPECT_EQ(CollectJob(w).failed->code, ErrorCode::kImageTooLarge);
}

TEST(WorkerProcess, PromptLongerThanContextIsPromptTooLong) {
  WorkerProcess w(Chaos({"--ctx", "64"}));
  ASSERT_TRUE(w.Handshake());
  std::string prompt;
  for (int i = 0; i < 100; ++i) prompt += "word ";
  w.Send(JobFrame(1, prompt, 2));
  JobResult r = CollectJob(w);
  ASSERT_TRUE(r.failed);
  EXPECT_EQ(r.failed->code, ErrorCode::kPromptTooLong);
}

TEST(WorkerProcess, ShutdownDuringAJobFinishesItFirst) {
  WorkerProcess w(Chaos({"--chaos-tokens-per-second", "200"}));
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(1, "finish me", 5));
  w.Send(protocol::ToFrame(protocol::Shutdown{}));
  JobResult r = CollectJob(w);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(r.done->finish_reason, "length");
  EXPECT_EQ(r.done->usage.completion_tokens, 5);
  std::optional<int> status = w.WaitExit();
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), protocol::kExitClean);
}

TEST(WorkerProcess, CancelOfAQueuedJobEndsItCancelled) {
  WorkerProcess w(Chaos({"--chaos-tokens-per-second", "200"}));
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(1, "first", 5));
  w.Send(JobFrame(2, "second", 5));
  w.Send(protocol::ToFrame(protocol::Cancel{2}));
  EXPECT_EQ(CollectJob(w).done->finish_reason, "length");
  JobResult second = CollectJob(w);
  ASSERT_TRUE(second.done);
  EXPECT_EQ(second.done->job_id, 2u);
  EXPECT_EQ(second.done->finish_reason, "cancelled");
  EXPECT_TRUE(second.pieces.empty());
}

TEST(WorkerProcess, EofFromSupervisorIsExit3) {
  WorkerProcess w(Chaos());
  ASSERT_TRUE(w.Handshake());
  w.CloseSocket();
  std::optional<int> status = w.WaitExit();
  ASSERT_TRUE(status);
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), protocol::kExitProtocolError);
}

TEST(WorkerProcess, MalformedFrameFromSupervisorIsExit3) {
  WorkerProcess w(Chaos());
  ASSERT_TRUE(w.Handshake());
  w.SendRaw(std::string("\x10\x00\x00\x00\xEEgarbage-garbage", 20));
  std::optional<int> status = w.WaitExit();
  ASSERT_TRUE(status);
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), protocol::kExitProtocolError);
  EXPECT_NE(w.Stderr().find("bad frame"), std::string::npos);
}

TEST(WorkerProcess, BadFlagsAndUnloadableModelAreExit2) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--engine", "nonsense"},
        std::vector<std::string>{"--engine", "chaos", "--fault-at-load", "abort"},
        std::vector<std::string>{"--engine", "llama", "--model", "/nonexistent.gguf", "--mmproj",
                                 "/nonexistent-mmproj.gguf"}}) {
    WorkerProcess w(args);
    std::optional<int> status = w.WaitExit();
    ASSERT_TRUE(status) << args[1];
    ASSERT_TRUE(WIFEXITED(*status));
    EXPECT_EQ(WEXITSTATUS(*status), protocol::kExitFatalConfig) << args[1] << "\n" << w.Stderr();
    EXPECT_FALSE(w.Stderr().empty());
  }
}

TEST(WorkerProcess, FaultWithoutPermissionIsRefused) {
  WorkerProcess w(Chaos());
  ASSERT_TRUE(w.Handshake());
  w.Send(JobFrame(1, "x", 3, {}, Fault("segfault")));
  JobResult r = CollectJob(w);
  ASSERT_TRUE(r.failed);
  EXPECT_EQ(r.failed->code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(r.failed->message, "fault injection disabled");
  EXPECT_TRUE(w.Alive());
}

// Runs a job carrying `fault` on a worker allowed to inject it.
std::unique_ptr<WorkerProcess> Faulted(protocol::FaultSpec fault, rlim_t address_space = 0) {
  auto w = std::make_unique<WorkerProcess>(Chaos({"--allow-fault-injection"}), address_space);
  EXPECT_TRUE(w->Handshake());
  w->Send(JobFrame(7, "fault", 50, {}, fault));
  return w;
}

int TermSignal(WorkerProcess& w) {
  std::optional<int> status = w.WaitExit();
  EXPECT_TRUE(status) << w.Stderr();
  return status && WIFSIGNALED(*status) ? WTERMSIG(*status) : 0;
}

TEST(Faults, SegfaultDiesOfSigsegvWithReport) {
  auto w = Faulted(Fault("segfault"));
  EXPECT_EQ(TermSignal(*w), SIGSEGV);
  EXPECT_NE(w->Stderr().find("vigil-worker: fatal signal 11 (SIGSEGV) in phase decode job 7"),
            std::string::npos)
      << w->Stderr();
}

TEST(Faults, AbortDiesOfSigabrt) {
  auto w = Faulted(Fault("abort"));
  EXPECT_EQ(TermSignal(*w), SIGABRT);
  EXPECT_NE(w->Stderr().find("fatal signal 6 (SIGABRT)"), std::string::npos);
}

TEST(Faults, ExitUsesTheExitCode) {
  auto w = Faulted(Fault("exit", "before_first_token", 0, 42));
  std::optional<int> status = w->WaitExit();
  ASSERT_TRUE(status);
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 42);
}

TEST(Faults, AfterTokensFiresAfterThatManyPieces) {
  auto w = Faulted(Fault("exit", "after_tokens", 3, 9));
  int pieces = 0;
  while (std::optional<protocol::Frame> f = w->NextMessage()) {
    pieces += f->type == MessageType::kPiece;
  }
  EXPECT_EQ(pieces, 3);
  std::optional<int> status = w->WaitExit();
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 9);
}

// Heartbeats keep coming in phase decode while progress stays frozen.
void ExpectHungWithHeartbeats(WorkerProcess& w) {
  w.heartbeats.clear();
  while (w.heartbeats.size() < 6) {
    std::optional<protocol::Frame> f = w.NextMessage(std::chrono::milliseconds(1000));
    ASSERT_FALSE(w.eof());
    if (f) {
      ASSERT_EQ(f->type, MessageType::kProgress) << "only prefill progress precedes the hang";
    }
  }
  // The first beats may predate the hang; the last three must agree.
  const auto& hb = w.heartbeats;
  const size_t n = hb.size();
  EXPECT_EQ(hb[n - 1].phase, "decode");
  EXPECT_EQ(hb[n - 1].job_id, 7u);
  EXPECT_EQ(hb[n - 1].progress, hb[n - 3].progress);
  EXPECT_TRUE(w.Alive());
}

TEST(Faults, HangBusyKeepsHeartbeatsWithFrozenProgress) {
  auto w = Faulted(Fault("hang_busy"));
  ExpectHungWithHeartbeats(*w);
}

TEST(Faults, HangSyscallKeepsHeartbeatsWithFrozenProgress) {
  auto w = Faulted(Fault("hang_syscall"));
  ExpectHungWithHeartbeats(*w);
}

TEST(Faults, GarbageIsMalformedToTheSupervisor) {
  auto w = Faulted(Fault("garbage"));
  bool malformed = false;
  for (int i = 0; i < 100 && !malformed; ++i) {
    Result<std::optional<protocol::Frame>> f = w->Next();
    malformed = !f.ok();
    if (f.ok()) {
      ASSERT_TRUE(f->has_value()) << "EOF before garbage";
    }
  }
  EXPECT_TRUE(malformed);
}

TEST(Faults, CloseProtocolGivesEofWhileAlive) {
  auto w = Faulted(Fault("close_protocol"));
  while (w->NextMessage()) {
  }
  EXPECT_TRUE(w->eof());
  EXPECT_TRUE(w->Alive());
}

TEST(Faults, OomDiesUnderAnAddressSpaceLimit) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of shadow memory: RLIMIT_AS stops it at start";
#endif
  auto w = Faulted(Fault("oom"), rlim_t{1} << 30);
  std::optional<int> status = w->WaitExit(std::chrono::milliseconds(20000));
  ASSERT_TRUE(status) << w->Stderr();
  EXPECT_TRUE(WIFSIGNALED(*status));
}

TEST(Faults, AtLoadFiresBeforeLoaded) {
  WorkerProcess w(Chaos({"--allow-fault-injection", "--fault-at-load", "exit",
                         "--chaos-load-ms", "1000"}));
  std::optional<protocol::Frame> hello = w.NextMessage();
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->type, MessageType::kHello);
  EXPECT_FALSE(w.NextMessage());  // EOF: no Loaded
  std::optional<int> status = w.WaitExit();
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 1);
}

TEST(Faults, HangAtLoadHeartbeatsInPhaseLoad) {
  WorkerProcess w(Chaos({"--allow-fault-injection", "--fault-at-load", "hang_busy"}));
  ASSERT_EQ(w.NextMessage()->type, MessageType::kHello);
  while (w.heartbeats.size() < 3) ASSERT_FALSE(w.NextMessage(std::chrono::milliseconds(1000)));
  EXPECT_EQ(w.heartbeats.back().phase, "load");
}

}  // namespace
}  // namespace vigil::testing
