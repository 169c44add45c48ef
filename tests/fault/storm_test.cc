// Fault storms, from outside: signals (SIGKILL, SIGSEGV, SIGABRT, SIGSTOP)
// hit random live workers every 25 ms for 3 s while 8 clients keep jobs in
// flight. The restart policy (restart_policy.h) must never hold a slot for
// crashes in service, requests must wait for the next worker rather than
// fail fast, and the pool must be ready again within 10 s of the storm's
// end. And the other side: a crash loop at load is held, and says why.
#include <signal.h>

#include <cstdio>
#include <random>

#include <gtest/gtest.h>

#include "common/log.h"
#include "harness.h"

namespace vigil::supervisor::testing {
namespace {

using std::chrono::milliseconds;

std::vector<pid_t> LivePids(Supervisor& sup) {
  std::vector<pid_t> pids;
  const nlohmann::json all = WorkersJson(sup);
  for (const auto& w : all["workers"]) {
    if (w.contains("pid") && w["pid"].is_number() && w["pid"].get<pid_t>() > 0) pids.push_back(w["pid"].get<pid_t>());
  }
  return pids;
}

bool AllLoaded(Supervisor& sup) {
  const nlohmann::json all = WorkersJson(sup);
  for (const auto& w : all["workers"]) {
    if (w["state"] != "idle" && w["state"] != "busy") return false;
  }
  return true;
}

TEST(Storm, ServedDuringAndReadyWithinTenSecondsAfter) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  SetLogLevel(LogLevel::kError);
  SupervisorOptions o = ChaosOptions(2);
  o.backoff_min = milliseconds(100);  // the production defaults of the policy
  o.backoff_max = milliseconds(10000);
  o.service_backoff_max = milliseconds(1000);
  o.hang.heartbeat = o.hang.decode = o.hang.prefill = milliseconds(300);  // SIGSTOP is found fast
  o.request_timeout = milliseconds(20000);
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());

  std::mt19937 rng(42);
  const int kSignals[] = {SIGKILL, SIGSEGV, SIGABRT, SIGSTOP};
  std::vector<std::shared_ptr<Outcome>> jobs;
  int next_prompt = 0, signals_sent = 0;
  auto in_flight = [&] {
    int n = 0;
    for (auto& j : jobs) n += !j->ended();
    return n;
  };
  const auto storm_end = std::chrono::steady_clock::now() + milliseconds(3000);
  auto next_signal = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < storm_end) {
    while (in_flight() < 8) jobs.push_back(h.Submit(Prompt("storm " + std::to_string(next_prompt++), 16)));
    if (std::chrono::steady_clock::now() >= next_signal) {
      std::vector<pid_t> pids = LivePids(*h.sup);
      if (!pids.empty()) {
        ::kill(pids[rng() % pids.size()], kSignals[rng() % 4]);
        ++signals_sent;
      }
      next_signal += milliseconds(25);
    }
    h.RunUntil([] { return false; }, milliseconds(5));
  }
  const size_t during = jobs.size();
  const auto t_end = std::chrono::steady_clock::now();
  ASSERT_TRUE(h.RunUntil([&] { return h.sup->GetReadiness().ready && AllLoaded(*h.sup); }, milliseconds(10000)))
      << h.sup->GetReadiness().reason;
  const double ready_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_end).count();
  ASSERT_TRUE(h.RunUntil([&] { return in_flight() == 0; }, milliseconds(25000)));

  std::map<std::string, int> outcomes;
  for (size_t i = 0; i < during; ++i) {
    outcomes[jobs[i]->ok ? "ok" : std::string(WireName(jobs[i]->error.code))]++;
    EXPECT_EQ(jobs[i]->terminal_calls, 1);
    // Never "no worker can take work" while slots restart: jobs wait.
    EXPECT_NE(jobs[i]->error.code, ErrorCode::kNotReady) << jobs[i]->error.message;
  }
  std::string summary;
  for (auto& [k, v] : outcomes) summary += k + "=" + std::to_string(v) + " ";
  std::printf("[storm] %d signals in 3 s; %zu jobs: %s; served %.1f%%; ready %.2f s after the storm; held %d\n",
              signals_sent, during, summary.c_str(), 100.0 * outcomes["ok"] / during, ready_s,
              h.CountEvents("worker_restarts_held"));
  EXPECT_EQ(h.CountEvents("worker_restarts_held"), 0);
  EXPECT_LT(ready_s, 10.0);
  EXPECT_GT(outcomes["ok"], 0);
  // After the storm: served at once, by a fresh worker.
  auto after = h.Submit(Prompt("after the storm"));
  ASSERT_TRUE(h.WaitEnded(after));
  EXPECT_TRUE(after->ok) << after->error.message;
}

// A worker that crashes at every load is a crash loop, not a storm: it backs
// off, then the slot is held, and /ready says why; jobs fail fast typed.
TEST(Storm, CrashLoopAtLoadIsHeldWithTheReason) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  SupervisorOptions o = ChaosOptions();
  o.worker_args.insert(o.worker_args.end(), {"--fault-at-load", "abort"});
  o.restart_intensity = 3;
  Harness h(o);
  ASSERT_TRUE(h.WaitEvents("worker_restarts_held", 1, milliseconds(8000)));
  EXPECT_EQ(h.CountEvents("worker_spawned"), 4);
  const std::string reason = h.sup->GetReadiness().reason;
  EXPECT_NE(reason.find("crash loop at load"), std::string::npos) << reason;
  EXPECT_NE(reason.find("4 loads in a row failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("SIGABRT"), std::string::npos) << reason;
  auto out = h.Submit(Prompt("while held"));
  ASSERT_TRUE(h.WaitEnded(out, milliseconds(1000)));
  EXPECT_EQ(out->error.code, ErrorCode::kNotReady);
}

// A worker that exits at every load said why in its last output line (a
// Python worker's ModuleNotFoundError); the held reason repeats it.
TEST(Storm, CrashLoopOfExitsNamesTheWorkersLastLine) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  SupervisorOptions o = ChaosOptions();
  o.worker_args.insert(o.worker_args.end(), {"--fault-at-load", "exit"});
  o.restart_intensity = 3;
  Harness h(o);
  ASSERT_TRUE(h.WaitEvents("worker_restarts_held", 1, milliseconds(8000)));
  const std::string reason = h.sup->GetReadiness().reason;
  EXPECT_NE(reason.find("exited with code"), std::string::npos) << reason;
  EXPECT_NE(reason.find("fault_injected kind=exit"), std::string::npos) << reason;
}

}  // namespace
}  // namespace vigil::supervisor::testing
