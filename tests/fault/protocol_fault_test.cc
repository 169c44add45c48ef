// Supervisor against fake_worker: protocol violations, silence, ignored
// cancel and shutdown, fatal configuration, typed load failures, devices.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

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
  auto w = WorkersJson(sup)["workers"][0];
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
  EXPECT_NE(WorkersJson(*h.sup)["workers"][0]["recent_crashes"][0]["detail"].get<std::string>().find(
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
  o.kill_grace = milliseconds(1000);  // so an answer before 750 ms did not wait for the kill
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  JobSpec spec = Prompt("slow");
  spec.timeout = milliseconds(150);
  const auto t0 = std::chrono::steady_clock::now();
  auto out = h.Submit(spec);
  ASSERT_TRUE(h.WaitEnded(out));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(out->error.code, ErrorCode::kTimeout);
  EXPECT_LT(waited, milliseconds(150 + 600));  // at the deadline, not after kill_grace
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
  EXPECT_EQ(WorkersJson(*h.sup)["workers"][0]["state"], "stopped");
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
  EXPECT_EQ(WorkersJson(*h.sup)["workers"][0]["state"], "failed");
  auto out = h.Submit(Prompt("x"));
  EXPECT_EQ(out->error.code, ErrorCode::kNotReady);  // at once: no worker will come
}

// A worker that says why its load failed (failed{job 0}) and exits 2 with
// out_of_memory: clients get out_of_memory at once (not retryable), and the
// slot is held for oom_retry, then loads again: memory may come back.
TEST(ProtocolFault, OutOfMemoryAtLoadFailsJobsTypedAndRetriesLater) {
  SupervisorOptions o = FakeOptions("load_failed_out_of_memory");
  o.oom_retry = milliseconds(400);
  Harness h(o);
  auto queued = h.Submit(Prompt("queued"));  // waits while the worker "loads"
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(h.WaitEvents("worker_held_for_memory", 1));
  ASSERT_TRUE(h.WaitEnded(queued));
  EXPECT_EQ(queued->terminal_calls, 1);
  EXPECT_EQ(queued->error.code, ErrorCode::kOutOfMemory) << queued->error.message;
  EXPECT_FALSE(queued->retryable);
  bool told = false;
  for (const auto& [e, f] : h.events) {
    if (e == "worker_load_failed" && f["code"] == "out_of_memory") told = true;
  }
  EXPECT_TRUE(told);
  EXPECT_EQ(h.CountEvents("worker_abandoned"), 0);
  auto w = WorkersJson(*h.sup)["workers"][0];
  EXPECT_EQ(w["state"], "held");
  EXPECT_EQ(w["restarts"], 1);
  EXPECT_TRUE(w.contains("restart_in_s"));
  const std::string reason = w["reason"];
  EXPECT_NE(reason.find("out_of_memory: fake load failure (out_of_memory)"), std::string::npos)
      << reason;
  EXPECT_NE(reason.find("next load attempt in 0.4 s"), std::string::npos) << reason;
  auto later = h.Submit(Prompt("later"));  // at once: the slot waits for memory
  ASSERT_TRUE(later->ended());
  EXPECT_EQ(later->error.code, ErrorCode::kOutOfMemory);
  EXPECT_FALSE(later->retryable);
  EXPECT_NE(later->error.message.find("out_of_memory"), std::string::npos) << later->error.message;

  // One more load attempt oom_retry later, not before, and not a loop.
  ASSERT_TRUE(h.WaitEvents("worker_spawned", 2, milliseconds(3000)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(400));
  ASSERT_TRUE(h.WaitEvents("worker_held_for_memory", 2));
  EXPECT_EQ(h.CountEvents("worker_spawned"), 2);
  EXPECT_EQ(WorkersJson(*h.sup)["workers"][0]["restarts"], 2);
}

// Held for memory is not a crash loop: however often it happens, the
// restart-intensity hold never applies.
TEST(ProtocolFault, OutOfMemoryRetriesAreNotCountedAsCrashes) {
  SupervisorOptions o = FakeOptions("load_failed_out_of_memory");
  o.oom_retry = milliseconds(20);
  o.restart_intensity = 1;
  Harness h(o);
  ASSERT_TRUE(h.WaitEvents("worker_held_for_memory", 4));
  EXPECT_EQ(h.CountEvents("worker_restarts_held"), 0);
  EXPECT_NE(WorkersJson(*h.sup)["workers"][0]["reason"].get<std::string>().find("out_of_memory"),
            std::string::npos);
}

// Memory came back: the next load attempt succeeds and the slot serves.
TEST(ProtocolFault, OutOfMemorySlotServesOnceALoadSucceeds) {
  const std::string once = ::testing::TempDir() + "vigil_oom_once_" + std::to_string(getpid());
  std::remove(once.c_str());
  SupervisorOptions o = FakeOptions("load_failed_out_of_memory");
  o.worker_args.insert(o.worker_args.end(), {"--once-file", once});
  o.oom_retry = milliseconds(50);
  Harness h(o);
  ASSERT_TRUE(h.WaitEvents("worker_held_for_memory", 1));
  ASSERT_TRUE(h.WaitReady());
  auto out = h.Submit(Prompt("x"));
  ASSERT_TRUE(h.WaitEnded(out));
  EXPECT_TRUE(out->ok) << out->error.message;
  auto w = WorkersJson(*h.sup)["workers"][0];
  EXPECT_EQ(w["state"], "idle");
  EXPECT_FALSE(w.contains("reason"));
  std::remove(once.c_str());
}

// Any other typed load failure (here the operator's bad flag) is the
// server's problem, not the client's: not_ready, as for an untyped exit 2.
TEST(ProtocolFault, OtherTypedLoadFailureIsNotReady) {
  Harness h(FakeOptions("load_failed_invalid_request"));
  auto queued = h.Submit(Prompt("queued"));
  ASSERT_TRUE(h.WaitEvents("worker_abandoned", 1));
  ASSERT_TRUE(h.WaitEnded(queued));
  EXPECT_EQ(queued->error.code, ErrorCode::kNotReady) << queued->error.message;
  EXPECT_TRUE(queued->retryable);
  h.RunUntil([] { return false; }, milliseconds(200));
  EXPECT_EQ(h.CountEvents("worker_spawned"), 1);
  auto w = WorkersJson(*h.sup)["workers"][0];
  EXPECT_EQ(w["state"], "failed");
  EXPECT_NE(w["reason"].get<std::string>().find("invalid_request: fake load failure"),
            std::string::npos)
      << w["reason"];
  auto later = h.Submit(Prompt("later"));
  ASSERT_TRUE(later->ended());
  EXPECT_EQ(later->error.code, ErrorCode::kNotReady);
}

// out_of_memory reaches clients only when every slot waits for memory; a
// slot that failed otherwise makes it not_ready.
TEST(ProtocolFault, OutOfMemoryOnOneSlotOfTwoIsNotReady) {
  SupervisorOptions o = FakeOptions("by_device");
  o.workers = 2;
  for (auto devices : {std::vector<std::string>{"load_failed_out_of_memory", "exit2"},
                       std::vector<std::string>{"exit2", "load_failed_out_of_memory"}}) {
    o.worker_devices = devices;
    Harness h(o);
    ASSERT_TRUE(h.WaitEvents("worker_held_for_memory", 1));
    ASSERT_TRUE(h.WaitEvents("worker_abandoned", 1));
    auto out = h.Submit(Prompt("x"));
    ASSERT_TRUE(out->ended());
    EXPECT_EQ(out->error.code, ErrorCode::kNotReady) << devices[0] << ": " << out->error.message;
  }

  o.worker_devices = {"load_failed_out_of_memory"};  // both slots
  Harness both(o);
  ASSERT_TRUE(both.WaitEvents("worker_held_for_memory", 2));
  auto out = both.Submit(Prompt("x"));
  ASSERT_TRUE(out->ended());
  EXPECT_EQ(out->error.code, ErrorCode::kOutOfMemory) << out->error.message;
}

// A healthy slot still serves while another waits for memory.
TEST(ProtocolFault, OutOfMemoryOnOneSlotLeavesTheOtherServing) {
  SupervisorOptions o = FakeOptions("by_device");
  o.workers = 2;
  o.worker_devices = {"load_failed_out_of_memory", "normal"};
  Harness h(o);
  ASSERT_TRUE(h.WaitEvents("worker_held_for_memory", 1));
  ASSERT_TRUE(h.WaitReady());
  auto out = h.Submit(Prompt("x"));
  ASSERT_TRUE(h.WaitEnded(out));
  EXPECT_TRUE(out->ok) << out->error.message;
}

// failed for a job while loading: there is no job; that is a broken worker.
TEST(ProtocolFault, FailedForAJobWhileLoadingKillsTheWorker) {
  Harness h(FakeOptions("failed_job_while_loading"));
  ASSERT_TRUE(h.WaitEvents("worker_exited", 1));
  EXPECT_EQ(LastCrashCause(*h.sup), "protocol_error");
  auto crash = WorkersJson(*h.sup)["workers"][0]["recent_crashes"][0];
  EXPECT_NE(crash["detail"].get<std::string>().find("sent failed for a job while loading"),
            std::string::npos)
      << crash["detail"];
  EXPECT_EQ(h.CountEvents("worker_load_failed"), 0);
  EXPECT_TRUE(h.WaitEvents("worker_spawned", 2));  // restarted, not abandoned
  EXPECT_EQ(h.CountEvents("worker_abandoned"), 0);
}

// --worker-devices: slot i gets --device devices[i % n], and keeps it.
TEST(ProtocolFault, WorkerDevicesRoundRobinOverSlots) {
  SupervisorOptions o = FakeOptions("normal");
  o.workers = 2;
  o.spare_workers = 1;
  o.worker_devices = {"GPU0", "GPU1"};
  Harness h(o);
  auto loaded = [&] {
    const nlohmann::json j = WorkersJson(*h.sup);
    for (const auto& w : j["workers"]) {
      if (!w.contains("model")) return false;
    }
    return true;
  };
  ASSERT_TRUE(h.RunUntil(loaded, milliseconds(5000)));
  const char* want[] = {"GPU0", "GPU1", "GPU0"};
  auto workers = WorkersJson(*h.sup)["workers"];
  ASSERT_EQ(workers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(workers[i]["assigned_device"], want[i]) << i;
    EXPECT_EQ(workers[i]["model"]["device"], want[i]) << i;  // what the worker was given
  }
}

// What the supervisor knows of a device comes from `loaded`, then each `done`.
TEST(ProtocolFault, DeviceMemoryFromLoadedThenDoneReachesStatusAndMetrics) {
  SupervisorOptions o = FakeOptions("normal");
  o.worker_devices = {"GPU \"0\""};  // a quote, to check the label escaping
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  auto model = WorkersJson(*h.sup)["workers"][0]["model"];
  EXPECT_EQ(model["device_memory_total"], 1000);
  EXPECT_EQ(model["device_memory_free"], 800);
  EXPECT_EQ(model["gpu_layers"], 7);
  auto out = h.Submit(Prompt("hello"));
  ASSERT_TRUE(h.WaitEnded(out));
  EXPECT_EQ(WorkersJson(*h.sup)["workers"][0]["model"]["device_memory_free"], 600);
  std::string m;
  m += MetricsText(*h.sup);
  EXPECT_NE(m.find("vigil_worker_device_memory_bytes{slot=\"0\",device=\"GPU \\\"0\\\"\",kind=\"total\"} 1000\n"),
            std::string::npos) << m;
  EXPECT_NE(m.find("vigil_worker_device_memory_bytes{slot=\"0\",device=\"GPU \\\"0\\\"\",kind=\"free\"} 600\n"),
            std::string::npos) << m;
  EXPECT_NE(m.find("vigil_worker_gpu_layers{slot=\"0\"} 7\n"), std::string::npos) << m;
}

TEST(ProtocolFault, NoWorkerDevicesPassesNoDevice) {
  Harness h(FakeOptions("normal"));
  ASSERT_TRUE(h.WaitReady());
  auto w = WorkersJson(*h.sup)["workers"][0];
  EXPECT_FALSE(w.contains("assigned_device"));
  EXPECT_EQ(w["model"]["device"], "CPU");
}

}  // namespace
}  // namespace vigil::supervisor::testing
