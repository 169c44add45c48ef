// Fault paths that need a particular worker to trigger (issue 13, item 3):
// a replay that diverges from the text already streamed, and a worker
// binary that cannot be executed. (The slow reader, the supervisor killed
// with SIGKILL and a second SIGTERM during drain run the real binaries:
// tests/e2e/fault_paths_test.py and tests/e2e/stop_test.py.)
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "harness.h"

namespace vigil::supervisor::testing {
namespace {

using std::chrono::milliseconds;

SupervisorOptions FakeOptions(const std::string& script) {
  SupervisorOptions o = ChaosOptions();
  o.worker_binary = FakeWorkerBinary();
  o.worker_args = {"--script", script};
  o.allow_fault_injection = false;
  o.worker_address_space_limit = 0;
  return o;
}

// The first attempt streamed "fake " and died; the replay says "other
// text": the client already has a prefix the new text does not continue,
// so the job ends typed rather than splicing two answers.
TEST(FaultPaths, ReplayThatDivergesEndsTyped) {
  const std::string marker = "/tmp/vigil-diverge-" + std::to_string(::getpid());
  ::unlink(marker.c_str());
  Harness h(FakeOptions("normal"));
  ASSERT_TRUE(h.WaitReady());
  JobSpec spec = Prompt("diverge:" + marker);
  spec.params.temperature = 0;  // deterministic: replayed, not refused
  spec.streaming = true;
  auto out = h.Submit(spec);
  ASSERT_TRUE(h.WaitEnded(out, milliseconds(8000)));
  ::unlink(marker.c_str());
  EXPECT_EQ(out->terminal_calls, 1);
  EXPECT_FALSE(out->ok);
  EXPECT_EQ(out->error.code, ErrorCode::kWorkerCrashed);
  EXPECT_NE(out->error.message.find("diverged"), std::string::npos) << out->error.message;
  EXPECT_EQ(out->text, "fake ");  // nothing of the second answer leaked
  EXPECT_EQ(out->attempts, 2);
}

// A worker binary that exists but cannot be executed (no x bit), and one
// that does not exist: the slot fails at once, is never respawned, and
// /ready and every job say why.
TEST(FaultPaths, WorkerBinaryThatCannotBeExecuted) {
  const std::string path = "/tmp/vigil-not-executable-" + std::to_string(::getpid());
  { std::ofstream(path) << "#!/bin/sh\nexit 0\n"; }
  ::chmod(path.c_str(), 0644);
  for (const std::string& binary : {path, std::string("/nonexistent/vigil-worker")}) {
    SupervisorOptions o = ChaosOptions();
    o.worker_binary = binary;
    Harness h(o);
    ASSERT_TRUE(h.WaitEvents("worker_abandoned", 1)) << binary;
    h.RunUntil([] { return false; }, milliseconds(200));
    EXPECT_EQ(h.CountEvents("worker_spawned"), 1) << binary;
    const Readiness ready = h.sup->GetReadiness();
    EXPECT_FALSE(ready.ready);
    EXPECT_NE(ready.reason.find("could not start"), std::string::npos) << ready.reason;
    auto out = h.Submit(Prompt("no worker"));
    ASSERT_TRUE(h.WaitEnded(out, milliseconds(1000)));
    EXPECT_EQ(out->error.code, ErrorCode::kNotReady) << out->error.message;
  }
  ::unlink(path.c_str());
}

// Poison inputs by image (issue 13, item 4). A crash while the worker
// decodes an image quarantines the image: the same bytes with any other
// prompt are refused; other images still pass.
TEST(FaultPaths, CrashDuringImageDecodeQuarantinesTheImage) {
  Harness h(FakeOptions("normal"));
  ASSERT_TRUE(h.WaitReady());
  JobSpec poison = Prompt("imagecrash");
  poison.images = {"IMAGE-BYTES-POISON"};
  auto out = h.Submit(poison);
  ASSERT_TRUE(h.WaitEnded(out, milliseconds(8000)));
  EXPECT_EQ(out->error.code, ErrorCode::kWorkerCrashed) << out->error.message;
  EXPECT_NE(out->error.message.find("quarantined"), std::string::npos) << out->error.message;
  ASSERT_TRUE(h.WaitReady());
  JobSpec other_prompt = Prompt("hello there", 99);  // another prompt and max_tokens
  other_prompt.images = {"IMAGE-BYTES-POISON"};
  auto again = h.Submit(other_prompt);
  ASSERT_TRUE(again->ended());  // refused in Submit, no worker touched
  EXPECT_EQ(again->error.code, ErrorCode::kInputQuarantined) << again->error.message;
  EXPECT_NE(again->error.message.find("an image of this request"), std::string::npos);
  JobSpec clean = Prompt("hello there", 99);
  clean.images = {"IMAGE-BYTES-CLEAN"};
  auto ok = h.Submit(clean);
  ASSERT_TRUE(h.WaitEnded(ok));
  EXPECT_TRUE(ok->ok) << ok->error.message;
  bool image_scope = false;
  for (const auto& [e, f] : h.events) image_scope |= e == "input_quarantined" && f["scope"] == "image";
  EXPECT_TRUE(image_scope);
}

// A crash later (here: as the job starts generating) is the request's: the
// request is quarantined, its image with another prompt is still served.
TEST(FaultPaths, CrashAfterTheImageQuarantinesTheRequestOnly) {
  Harness h(FakeOptions("normal"));
  ASSERT_TRUE(h.WaitReady());
  JobSpec poison = Prompt("poison prompt");
  poison.images = {"IMAGE-BYTES-FINE"};
  auto out = h.Submit(poison);
  ASSERT_TRUE(h.WaitEnded(out, milliseconds(8000)));
  EXPECT_EQ(out->error.code, ErrorCode::kWorkerCrashed) << out->error.message;
  ASSERT_TRUE(h.WaitReady());
  auto same = h.Submit(poison);
  ASSERT_TRUE(same->ended());
  EXPECT_EQ(same->error.code, ErrorCode::kInputQuarantined);
  JobSpec other = Prompt("hello there");
  other.images = {"IMAGE-BYTES-FINE"};
  auto ok = h.Submit(other);
  ASSERT_TRUE(h.WaitEnded(ok));
  EXPECT_TRUE(ok->ok) << ok->error.message;
}

}  // namespace
}  // namespace vigil::supervisor::testing
