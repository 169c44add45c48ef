// Supervisor against fake_worker: protocol violations, silence, ignored
// cancel and shutdown, fatal configuration.
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
  o.worker_address_space_limit = 0;  // a sanitizer build of fake_worker needs terabytes of shadow
  return o;
}

std::string LastCrashCause(Supervisor& sup) {
  auto w = sup.WorkersJson()["workers"][0];
  if (w["recent_crashes"].empty()) return "";
  return w["recent_crashes"][0]["cause"];
}

TEST(ProtocolFault, NormalFakeWorkerServes) {
  Harness h(FakeOptions("normal"));
  ASSERT_TRUE(h.WaitReady());
  auto out = h.Submit(Prompt("hello"));
  ASSERT_TRUE(h.WaitEnded(out));
  EXPECT_TRUE(out->ok) << out->error.message;
  EXPECT_EQ(out->text, "fake text");
  EXPECT_EQ(h.sup->ModelName(), "fake-model");
}

TEST(ProtocolFault, SecondHelloKillsTheWorker) {
  Harness h(FakeOptions("second_hello"));
  ASSERT_TRUE(h.WaitEvents("worker_exited", 1));
  EXPECT_EQ(LastCrashCause(*h.sup), "protocol_error");
  EXPECT_NE(h.sup->WorkersJson()["workers"][0]["recent_crashes"][0]["detail"].get<std::string>().find(
                "second hello"),
            std::string::npos);
  EXPECT_TRUE(h.WaitEvents("worker_spawned", 2));  // restarted
}

TEST(ProtocolFault, PieceWhileIdleKillsTheWorker) {
  Harness h(FakeOptions("piece_when_idle"));
  ASSERT_TRUE(h.WaitEvents("worker_exited", 1));
  EXPECT_EQ(LastCrashCause(*h.sup), "protocol_error");
}

TEST(ProtocolFault, WrongJobIdKillsAndTheJobEndsTyped) {
  SupervisorOptions o = FakeOptions("wrong_job_id");
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  auto out = h.Submit(Prompt("x"));
  ASSERT_TRUE(h.WaitEnded(out));
  EXPECT_EQ(out->terminal_calls, 1);
  EXPECT_EQ(out->error.code, ErrorCode::kWorkerCrashed);
  EXPECT_NE(out->error.message.find("broke the protocol"), std::string::npos) << out->error.message;
  EXPECT_EQ(out->attempts, 2);  // quarantined after the second crash
  EXPECT_FALSE(out->retryable);
  EXPECT_EQ(LastCrashCause(*h.sup), "protocol_error");
}

TEST(ProtocolFault, SilentWorkerIsHung) {
  Harness h(FakeOptions("silent_after_load"));
  ASSERT_TRUE(h.WaitEvents("worker_hung", 1, milliseconds(3000)));
  ASSERT_TRUE(h.WaitEvents("worker_exited", 1));
  EXPECT_EQ(LastCrashCause(*h.sup), "hung");
}

TEST(ProtocolFault, IgnoredCancelIsKilledAfterGrace) {
  SupervisorOptions o = FakeOptions("ignore_cancel");
  o.hang.decode = milliseconds(5000);  // the fake's progress advances anyway
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  JobSpec spec = Prompt("slow");
  spec.timeout = milliseconds(150);
  const auto t0 = std::chrono::steady_clock::now();
  auto out = h.Submit(spec);
  ASSERT_TRUE(h.WaitEnded(out));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(out->error.code, ErrorCode::kTimeout);
  EXPECT_LT(waited, milliseconds(150 + 180));  // at the deadline, not after kill_grace (200 ms)
  ASSERT_TRUE(h.WaitEvents("worker_exited", 1));
  EXPECT_EQ(LastCrashCause(*h.sup), "cancel_timeout");
  EXPECT_EQ(out->terminal_calls, 1);
}

TEST(ProtocolFault, DrainKillsAWorkerThatIgnoresShutdown) {
  Harness h(FakeOptions("ignore_shutdown"));
  ASSERT_TRUE(h.WaitReady());
  bool drained = false;
  h.sup->Drain(milliseconds(1000), [&] { drained = true; });
  EXPECT_EQ(h.sup->GetReadiness().reason, "draining");
  ASSERT_TRUE(h.RunUntil([&] { return drained; }, milliseconds(3000)));
  bool killed_at_shutdown = false;
  for (const auto& [e, f] : h.events) {
    if (e == "worker_killed" && f["reason"] == "shutdown") killed_at_shutdown = true;
  }
  EXPECT_TRUE(killed_at_shutdown);
  EXPECT_EQ(h.sup->WorkersJson()["workers"][0]["state"], "stopped");
}

TEST(ProtocolFault, FatalConfigIsNotRespawned) {
  Harness h(FakeOptions("exit2"));
  ASSERT_TRUE(h.WaitEvents("worker_abandoned", 1));
  h.RunUntil([] { return false; }, milliseconds(200));  // nothing else may happen
  EXPECT_EQ(h.CountEvents("worker_spawned"), 1);
  auto ready = h.sup->GetReadiness();
  EXPECT_FALSE(ready.ready);
  EXPECT_NE(ready.reason.find("fatal configuration"), std::string::npos) << ready.reason;
  EXPECT_NE(ready.reason.find("cannot open model"), std::string::npos) << ready.reason;
  EXPECT_EQ(h.sup->WorkersJson()["workers"][0]["state"], "failed");
  auto out = h.Submit(Prompt("x"));
  EXPECT_EQ(out->error.code, ErrorCode::kNotReady);  // at once: no worker will come
}

}  // namespace
}  // namespace vigil::supervisor::testing
