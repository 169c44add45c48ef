// Soak: 2,000 jobs from 8 concurrent clients, 10% with a random fault on
// their first attempt. Every job ends exactly once, every job without a
// fault succeeds, and the supervisor's descriptors and memory do not grow.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "common/log.h"
#include "harness.h"

namespace vigil::supervisor::testing {
namespace {

using std::chrono::milliseconds;

long RssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

bool AllIdle(Supervisor& sup) {
  const nlohmann::json all = WorkersJson(sup);  // keep the temporary alive for the loop
  for (const auto& w : all["workers"]) {
    if (w["state"] != "idle") return false;
  }
  return true;
}

struct SoakJob {
  std::shared_ptr<Outcome> out;
  std::string fault;  // empty: none
};

TEST(Soak, TwoThousandJobsEightClientsTenPercentFaults) {
  if (WorkerBinary().empty()) GTEST_SKIP() << "vigil-worker is not built";
  constexpr int kJobs = 2000, kClients = 8;
  static const char* kKinds[] = {"segfault", "abort", "hang_busy", "hang_syscall",
                                 "exit", "oom", "garbage", "close_protocol"};
  SetLogLevel(LogLevel::kError);
  const int fds_baseline = CountOpenFds();
  int fds_warm = 0, fds_end = 0;
  long rss_warm = 0, rss_end = 0;
  std::vector<SoakJob> jobs;
  std::map<std::string, int> outcomes;
  double wall_s = 0;
  std::string metrics;
  {
    SupervisorOptions o = ChaosOptions(2);
    o.spare_workers = 1;
    o.worker_args = {"--engine", "chaos", "--chaos-tokens-per-second", "50000", "--chaos-load-ms", "1"};
    o.hang.prefill = o.hang.decode = o.hang.image_encode = o.hang.heartbeat = milliseconds(250);
    Harness h(o);
    ASSERT_TRUE(h.RunUntil([&] { return AllIdle(*h.sup); }, milliseconds(5000)));
    // One warm-up job per worker slot so lazily created state exists.
    fds_warm = CountOpenFds();
    rss_warm = RssKb();

    std::mt19937 rng(12345);
    std::vector<int> current(kClients, -1);
    const auto t0 = std::chrono::steady_clock::now();
    auto submit = [&](int client) {
      const int n = static_cast<int>(jobs.size());
      JobSpec spec = Prompt("soak job " + std::to_string(n), 6);
      std::string fault;
      if (rng() % 10 == 0) {
        fault = kKinds[rng() % 8];
        spec = (rng() % 2) ? WithFault(std::move(spec), fault, "after_tokens", 1 + rng() % 4)
                           : WithFault(std::move(spec), fault);
      }
      jobs.push_back({h.Submit(std::move(spec)), fault});
      current[client] = n;
    };
    for (int c = 0; c < kClients; ++c) submit(c);
    ASSERT_TRUE(h.RunUntil(
        [&] {
          bool all_done = true;
          for (int c = 0; c < kClients; ++c) {
            if (!jobs[current[c]].out->ended()) {
              all_done = false;
            } else if (static_cast<int>(jobs.size()) < kJobs) {
              submit(c);
              all_done = false;
            }
          }
          return all_done;
        },
        milliseconds(90000)));
    wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(h.RunUntil([&] { return AllIdle(*h.sup); }, milliseconds(5000)));
    fds_end = CountOpenFds();
    rss_end = RssKb();
    metrics += MetricsText(*h.sup);
  }
  SetLogLevel(LogLevel::kInfo);

  int faulted = 0, clean_failed = 0;
  for (const auto& job : jobs) {
    EXPECT_EQ(job.out->terminal_calls, 1);
    const std::string key = job.out->ok ? "ok" : std::string(WireName(job.out->error.code));
    outcomes[(job.fault.empty() ? "clean " : "faulted ") + key]++;
    if (!job.fault.empty()) ++faulted;
    if (job.fault.empty() && !job.out->ok) {
      ++clean_failed;
      ADD_FAILURE() << "clean job failed: " << job.out->error.message;
    }
  }
  EXPECT_EQ(static_cast<int>(jobs.size()), kJobs);
  EXPECT_EQ(clean_failed, 0);
  EXPECT_EQ(fds_end, fds_warm);
  EXPECT_EQ(CountOpenFds(), fds_baseline);
#if !defined(__SANITIZE_ADDRESS__)
  // Under ASan freed memory sits in its quarantine, so RSS grows by design;
  // there LeakSanitizer checks for leaks at exit instead.
  EXPECT_LT(rss_end - rss_warm, 32 * 1024);  // KiB: no per-job growth
#endif
  std::printf("[soak] %d jobs, %d with faults, %.1f s wall; fds warm=%d end=%d after=%d (baseline %d); "
              "rss warm=%ld KiB end=%ld KiB\n",
              kJobs, faulted, wall_s, fds_warm, fds_end, CountOpenFds(), fds_baseline, rss_warm, rss_end);
  for (const auto& [k, n] : outcomes) std::printf("[soak]   %s: %d\n", k.c_str(), n);
  for (size_t pos = 0; (pos = metrics.find("vigil_", pos)) != std::string::npos;) {
    size_t end = metrics.find('\n', pos);
    std::string line = metrics.substr(pos, end - pos);
    if (pos > 0 && metrics[pos - 1] != '\n') line.clear();
    if (line.find("restarts_total") != std::string::npos || line.find("retries") != std::string::npos ||
        line.find("jobs_total") != std::string::npos) {
      std::printf("[soak]   %s\n", line.c_str());
    }
    pos = end;
  }
}

}  // namespace
}  // namespace vigil::supervisor::testing
