// Supervisor against fake_worker running several jobs at once (protocol 2):
// capacity, routing, version-1 workers, spares, per-job cancel, and the
// suspect rule: a crash with several jobs in a worker charges none of them;
// they are retried batched once, a job present at a second such crash is
// retried alone, and only a crash while alone charges (supervisor_impl.h).
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "harness.h"
#include "supervisor/fingerprint.h"

namespace vigil::supervisor::testing {
namespace {

using std::chrono::milliseconds;

SupervisorOptions BatchOptions(int jobs_per_worker, int job_ms) {
  SupervisorOptions o = ChaosOptions();
  o.worker_binary = FakeWorkerBinary();
  o.worker_args = {"--script", "normal", "--job-ms", std::to_string(job_ms)};
  o.jobs_per_worker = jobs_per_worker;
  o.allow_fault_injection = true;    // the fake honours segfault and hang_busy
  o.worker_address_space_limit = 0;  // a sanitizer build of fake_worker needs terabytes of shadow
  return o;
}

// What the fake says on stderr at each job start: worker id, jobs running.
struct Start {
  std::string worker;
  uint64_t job_id = 0;
  int running = 0;
};

std::vector<Start> Starts(const Harness& h) {
  std::vector<Start> starts;
  for (const auto& [e, f] : h.events) {
    if (e != "worker_output_received") continue;
    unsigned long long id = 0;
    int running = 0;
    const std::string line = f["line"];
    if (std::sscanf(line.c_str(), "fake_worker: start job %llu running=%d", &id, &running) == 2) {
      starts.push_back({f["worker"], id, running});
    }
  }
  return starts;
}

int MaxRunning(const Harness& h) {
  int most = 0;
  for (const Start& s : Starts(h)) most = std::max(most, s.running);
  return most;
}

bool WaitStarts(Harness& h, size_t n) {
  return h.RunUntil([&] { return Starts(h).size() >= n; }, milliseconds(5000));
}

// The worker each job_started event names, in order.
std::vector<std::string> StartedOn(const Harness& h) {
  std::vector<std::string> workers;
  for (const auto& [e, f] : h.events) {
    if (e == "job_started") workers.push_back(f["worker"]);
  }
  return workers;
}

bool AllEnded(Harness& h, const std::vector<std::shared_ptr<Outcome>>& outs,
              milliseconds bound = milliseconds(8000)) {
  return h.RunUntil([&] {
    return std::all_of(outs.begin(), outs.end(), [](const auto& o) { return o->ended(); });
  }, bound);
}

TEST(BatchFault, CapacityIsRespectedAndShown) {
  Harness h(BatchOptions(3, 100));
  ASSERT_TRUE(h.WaitReady());
  std::vector<std::shared_ptr<Outcome>> outs;
  for (int i = 0; i < 7; ++i) outs.push_back(h.Submit(Prompt("job " + std::to_string(i))));
  auto w = WorkersJson(*h.sup);
  EXPECT_EQ(w["workers"][0]["capacity"], 3);
  EXPECT_EQ(w["workers"][0]["protocol"], 2);
  EXPECT_EQ(w["workers"][0]["running_jobs"], 3);
  EXPECT_EQ(w["workers"][0]["jobs"].size(), 3u);
  EXPECT_EQ(w["queue_depth"], 4);
  std::string m;
  m += MetricsText(*h.sup);
  EXPECT_NE(m.find("vigil_worker_capacity{slot=\"0\"} 3\n"), std::string::npos) << m;
  EXPECT_NE(m.find("vigil_worker_jobs_running{slot=\"0\"} 3\n"), std::string::npos) << m;
  ASSERT_TRUE(AllEnded(h, outs));
  for (const auto& o : outs) {
    EXPECT_TRUE(o->ok) << o->error.message;
    EXPECT_EQ(o->attempts, 1);
    EXPECT_EQ(o->text, "fake text");
  }
  ASSERT_TRUE(WaitStarts(h, 7));
  EXPECT_EQ(MaxRunning(h), 3);  // the fake exits 4 past its capacity
  EXPECT_EQ(h.CountEvents("worker_exited"), 0);
  EXPECT_EQ(WorkersJson(*h.sup)["workers"][0]["running_jobs"], 0);
}

TEST(BatchFault, ReportedCapacityIsCappedByJobsPerWorker) {
  SupervisorOptions o = BatchOptions(2, 60);
  o.worker_args.insert(o.worker_args.end(), {"--capacity", "8"});
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  EXPECT_EQ(WorkersJson(*h.sup)["workers"][0]["capacity"], 2);
  std::vector<std::shared_ptr<Outcome>> outs;
  for (int i = 0; i < 5; ++i) outs.push_back(h.Submit(Prompt("job " + std::to_string(i))));
  ASSERT_TRUE(AllEnded(h, outs));
  ASSERT_TRUE(WaitStarts(h, 5));
  EXPECT_EQ(MaxRunning(h), 2);
}

TEST(BatchFault, VersionOneWorkerGetsOneJobAtATime) {
  SupervisorOptions o = BatchOptions(4, 50);
  o.worker_args.insert(o.worker_args.end(), {"--protocol", "1"});
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  auto w = WorkersJson(*h.sup)["workers"][0];
  EXPECT_EQ(w["protocol"], 1);
  EXPECT_EQ(w["capacity"], 1);
  std::vector<std::shared_ptr<Outcome>> outs;
  for (int i = 0; i < 3; ++i) outs.push_back(h.Submit(Prompt("job " + std::to_string(i))));
  ASSERT_TRUE(AllEnded(h, outs));
  for (const auto& out : outs) EXPECT_TRUE(out->ok) << out->error.message;
  ASSERT_TRUE(WaitStarts(h, 3));
  EXPECT_EQ(MaxRunning(h), 1);
  EXPECT_EQ(h.CountEvents("worker_exited"), 0);
}

TEST(BatchFault, UnknownProtocolVersionIsRefused) {
  SupervisorOptions o = BatchOptions(1, 0);
  o.worker_args.insert(o.worker_args.end(), {"--protocol", "3"});
  Harness h(o);
  ASSERT_TRUE(h.WaitEvents("worker_exited", 1));
  auto crash = WorkersJson(*h.sup)["workers"][0]["recent_crashes"][0];
  EXPECT_EQ(crash["cause"], "protocol_error");
  EXPECT_NE(crash["detail"].get<std::string>().find("speaks protocol 3"), std::string::npos)
      << crash["detail"];
}

TEST(BatchFault, JobsGoToTheLeastLoadedWorker) {
  SupervisorOptions o = BatchOptions(4, 0);
  o.workers = 2;
  Harness h(o);
  ASSERT_TRUE(h.RunUntil([&] { return h.CountEvents("worker_loaded") >= 2; }, milliseconds(5000)));
  std::vector<JobId> ids(4);
  std::vector<std::shared_ptr<Outcome>> outs;
  for (int i = 0; i < 4; ++i) outs.push_back(h.Submit(Prompt("long " + std::to_string(i)), &ids[i]));
  EXPECT_EQ(StartedOn(h), (std::vector<std::string>{"w0.0", "w1.0", "w0.0", "w1.0"}));
  auto w = WorkersJson(*h.sup)["workers"];
  EXPECT_EQ(w[0]["running_jobs"], 2);
  EXPECT_EQ(w[1]["running_jobs"], 2);
  for (JobId id : ids) h.sup->Cancel(id);
  ASSERT_TRUE(h.RunUntil([&] {
    auto ws = WorkersJson(*h.sup)["workers"];
    return ws[0]["running_jobs"] == 0 && ws[1]["running_jobs"] == 0;
  }, milliseconds(3000)));
  for (const auto& out : outs) EXPECT_EQ(out->terminal_calls, 0);
  EXPECT_EQ(h.CountEvents("worker_exited"), 0);  // every cancel was honoured
}

TEST(BatchFault, AJobPrefersTheWorkerThatRanItsImage) {
  SupervisorOptions o = BatchOptions(4, 0);
  o.workers = 2;
  Harness h(o);
  ASSERT_TRUE(h.RunUntil([&] { return h.CountEvents("worker_loaded") >= 2; }, milliseconds(5000)));
  auto with_image = [](std::string prompt, std::string image) {
    JobSpec s = Prompt(std::move(prompt));
    s.images = {std::move(image)};
    return s;
  };
  auto first = h.Submit(with_image("describe", "image A bytes"));
  ASSERT_TRUE(h.WaitEnded(first));
  JobId long_id = 0;
  h.Submit(Prompt("long one"), &long_id);  // w0 now runs one job, w1 none
  auto again = h.Submit(with_image("describe again", "image A bytes"));
  auto other = h.Submit(with_image("describe", "image B bytes"));
  EXPECT_EQ(StartedOn(h), (std::vector<std::string>{"w0.0", "w0.0", "w0.0", "w1.0"}));
  ASSERT_TRUE(h.WaitEnded(again));
  ASSERT_TRUE(h.WaitEnded(other));
  EXPECT_TRUE(again->ok && other->ok);
  h.sup->Cancel(long_id);
}

// Spares stand in for regular workers that are gone; while the regular
// ones live, a spare stays idle even when they are full.
TEST(BatchFault, SpareTakesJobsOnlyForADeadRegularWorker) {
  SupervisorOptions o = BatchOptions(2, 300);
  o.spare_workers = 1;
  o.service_restart_delay = o.service_backoff_max = milliseconds(2000);  // the dead one comes back late
  Harness h(o);
  ASSERT_TRUE(h.RunUntil([&] { return h.CountEvents("worker_loaded") >= 2; }, milliseconds(5000)));
  std::vector<std::shared_ptr<Outcome>> outs;
  for (int i = 0; i < 3; ++i) outs.push_back(h.Submit(Prompt("job " + std::to_string(i))));
  auto w = WorkersJson(*h.sup);
  EXPECT_EQ(w["workers"][0]["running_jobs"], 2);
  EXPECT_EQ(w["workers"][1]["running_jobs"], 0);
  EXPECT_EQ(w["queue_depth"], 1);
  ASSERT_EQ(kill(w["workers"][0]["pid"].get<pid_t>(), SIGKILL), 0);
  ASSERT_TRUE(AllEnded(h, outs, milliseconds(1900)));  // on the spare, before the backoff ends
  for (const auto& out : outs) EXPECT_TRUE(out->ok) << out->error.message;
  EXPECT_EQ(h.CountEvents("input_quarantined"), 0);
}

// The heart of the suspect rule.
TEST(BatchFault, OnePoisonAmongEightConcurrentJobs) {
  Harness h(BatchOptions(8, 150));
  ASSERT_TRUE(h.WaitReady());
  std::vector<JobSpec> specs;
  for (int i = 0; i < 8; ++i) specs.push_back(Prompt((i == 3 ? "poison " : "innocent ") + std::to_string(i)));
  std::vector<std::shared_ptr<Outcome>> outs;
  for (const JobSpec& s : specs) outs.push_back(h.Submit(s));
  EXPECT_EQ(WorkersJson(*h.sup)["workers"][0]["running_jobs"], 8);
  ASSERT_TRUE(AllEnded(h, outs, milliseconds(15000)));

  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(outs[i]->terminal_calls, 1) << i;
    if (i == 3) continue;
    EXPECT_TRUE(outs[i]->ok) << i << ": " << outs[i]->error.message;
    EXPECT_EQ(outs[i]->attempts, 3) << i;  // two batch crashes, then alone
  }
  const Outcome& poison = *outs[3];
  EXPECT_EQ(poison.error.code, ErrorCode::kWorkerCrashed) << poison.error.message;
  EXPECT_FALSE(poison.retryable);
  EXPECT_EQ(poison.attempts, 3);  // two batch crashes, then a crash alone
  EXPECT_NE(poison.error.message.find("quarantined"), std::string::npos) << poison.error.message;

  // Exactly one input quarantined: the poison's, by its crash alone.
  EXPECT_EQ(h.CountEvents("job_suspected"), 8);
  ASSERT_EQ(h.CountEvents("input_quarantined"), 1);
  for (const auto& [e, f] : h.events) {
    if (e == "input_quarantined") {
      EXPECT_EQ(f["fingerprint"], ShortFingerprint(Fingerprint(specs[3])));
    }
  }
  // The first retry is batched (a fault from outside costs one takeover);
  // the suspects' attempt runs alone.
  int batched = 0, alone = 0;
  for (const auto& [e, f] : h.events) {
    if (e != "job_started") continue;
    if (f["attempt"] == 2) batched += !f["exclusive"].get<bool>();
    if (f["attempt"] == 3) alone += f["exclusive"].get<bool>();
  }
  EXPECT_EQ(batched, 8);
  EXPECT_EQ(alone, 8);
  ASSERT_TRUE(WaitStarts(h, 8 + 8 + 8));
  const std::vector<Start> starts = Starts(h);
  for (size_t i = 16; i < starts.size(); ++i) EXPECT_EQ(starts[i].running, 1) << "job " << starts[i].job_id;

  ASSERT_TRUE(h.WaitReady());
  auto again = h.Submit(specs[3]);
  EXPECT_EQ(again->error.code, ErrorCode::kInputQuarantined);
  std::vector<std::shared_ptr<Outcome>> innocents;
  for (int i = 0; i < 8; ++i) {
    if (i != 3) innocents.push_back(h.Submit(specs[i]));
  }
  ASSERT_TRUE(AllEnded(h, innocents));
  for (const auto& out : innocents) EXPECT_TRUE(out->ok) << out->error.message;
}

// A fault from outside (one crash with several jobs, not repeated): the jobs
// are retried batched at once, none becomes a suspect, none is charged.
TEST(BatchFault, OneCrashWithSeveralJobsRetriesThemBatched) {
  Harness h(BatchOptions(4, 150));
  ASSERT_TRUE(h.WaitReady());
  std::vector<std::shared_ptr<Outcome>> outs;
  outs.push_back(h.Submit(WithFault(Prompt("a"), "segfault")));  // first attempt only
  for (const char* p : {"b", "c", "d"}) outs.push_back(h.Submit(Prompt(p)));
  ASSERT_TRUE(AllEnded(h, outs));
  for (const auto& out : outs) {
    EXPECT_TRUE(out->ok) << out->error.message;
    EXPECT_EQ(out->attempts, 2);
  }
  EXPECT_EQ(h.CountEvents("job_suspected"), 0);
  EXPECT_EQ(h.CountEvents("input_quarantined"), 0);
  ASSERT_TRUE(WaitStarts(h, 8));
  EXPECT_EQ(MaxRunning(h), 4);  // the retries ran together again
}

// Two workers: the one that crashed comes back and takes its two jobs back
// (batched), the poison crashes it again, and the two suspects then need
// workers of their own: one reserves the busy survivor, which takes no new
// shared job until the suspect has run there alone.
TEST(BatchFault, SuspectReservesABusyWorkerAndRunsAlone) {
  SupervisorOptions o = BatchOptions(2, 200);
  o.workers = 2;
  Harness h(o);
  ASSERT_TRUE(h.RunUntil([&] { return h.CountEvents("worker_loaded") >= 2; }, milliseconds(5000)));
  std::vector<std::shared_ptr<Outcome>> outs;
  for (const char* p : {"a", "b", "poison c", "d"}) outs.push_back(h.Submit(Prompt(p)));
  EXPECT_EQ(StartedOn(h), (std::vector<std::string>{"w0.0", "w1.0", "w0.0", "w1.0"}));
  ASSERT_TRUE(h.WaitEvents("worker_exited", 1));  // w0 with a and the poison
  bool reserved_seen = false;
  h.on_event = [&](std::string_view, const nlohmann::json&) {
    const nlohmann::json status = WorkersJson(*h.sup);
    for (const auto& w : status["workers"]) {
      if (w.value("reserved_for_exclusive", false)) reserved_seen = true;
    }
  };
  for (int i = 0; i < 4; ++i) outs.push_back(h.Submit(Prompt("later " + std::to_string(i))));
  ASSERT_TRUE(AllEnded(h, outs, milliseconds(10000)));
  h.on_event = nullptr;
  for (size_t i = 0; i < outs.size(); ++i) {
    if (i == 2) continue;
    EXPECT_TRUE(outs[i]->ok) << i << ": " << outs[i]->error.message;
  }
  EXPECT_EQ(outs[2]->error.code, ErrorCode::kWorkerCrashed);
  EXPECT_EQ(h.CountEvents("input_quarantined"), 1);
  EXPECT_TRUE(reserved_seen);
  // a and the poison crashed together twice (w0.0, then w0.1), then each ran
  // alone once: the poison crashed there and was charged.
  int alone = 0;
  for (const auto& [e, f] : h.events) {
    if (e == "job_started" && f["exclusive"].get<bool>()) {
      ++alone;
      EXPECT_EQ(f["attempt"], 3) << f.dump();
    }
  }
  EXPECT_EQ(alone, 2);
}

// An engine that sends no token ids with its pieces cannot be resumed: a
// sampled stream whose text reached the client ends typed, as it must not
// start over with a different text.
TEST(BatchFault, WithoutTokenIdsASampledStreamThatSentTextEndsTyped) {
  Harness h(BatchOptions(2, 200));
  ASSERT_TRUE(h.WaitReady());
  JobSpec spec = Prompt("text-then-poison sampled");
  spec.params.temperature = 0.8;
  auto out = h.Submit(spec);
  ASSERT_TRUE(AllEnded(h, {out}));
  EXPECT_EQ(out->error.code, ErrorCode::kWorkerCrashed);
  EXPECT_EQ(out->text, "some ");
  EXPECT_EQ(out->attempts, 1);
  EXPECT_NE(out->error.message.find("not deterministic"), std::string::npos) << out->error.message;
}

TEST(BatchFault, CancelOfOneJobLeavesTheOthersRunning) {
  Harness h(BatchOptions(3, 300));
  ASSERT_TRUE(h.WaitReady());
  JobId b_id = 0;
  auto a = h.Submit(Prompt("a"));
  auto b = h.Submit(Prompt("b"), &b_id);
  auto c = h.Submit(Prompt("c"));
  EXPECT_EQ(WorkersJson(*h.sup)["workers"][0]["running_jobs"], 3);
  h.sup->Cancel(b_id);
  ASSERT_TRUE(h.RunUntil([&] { return WorkersJson(*h.sup)["workers"][0]["running_jobs"] == 2; },
                         milliseconds(250)));  // before the others end
  EXPECT_FALSE(a->ended() || c->ended());
  ASSERT_TRUE(AllEnded(h, {a, c}));
  EXPECT_TRUE(a->ok && c->ok);
  EXPECT_EQ(b->terminal_calls, 0);
  EXPECT_EQ(h.CountEvents("worker_exited"), 0);
}

// A deadline cancels one job; the worker ignores it and is killed after
// kill_grace. The other job in it was innocent: retried, not a suspect.
TEST(BatchFault, IgnoredCancelKillsTheWorkerAndTheOtherJobIsRetried) {
  SupervisorOptions o = BatchOptions(2, 500);
  o.worker_args.push_back("--ignore-cancel");
  Harness h(o);
  ASSERT_TRUE(h.WaitReady());
  JobSpec stuck = Prompt("long stuck");
  stuck.timeout = milliseconds(100);
  auto timed_out = h.Submit(stuck);
  auto other = h.Submit(Prompt("other"));
  ASSERT_TRUE(AllEnded(h, {timed_out, other}));
  EXPECT_EQ(timed_out->error.code, ErrorCode::kTimeout);
  EXPECT_EQ(timed_out->terminal_calls, 1);
  EXPECT_TRUE(other->ok) << other->error.message;
  EXPECT_EQ(other->attempts, 2);
  EXPECT_EQ(WorkersJson(*h.sup)["workers"][0]["recent_crashes"][0]["cause"], "cancel_timeout");
  EXPECT_EQ(h.CountEvents("job_suspected"), 0);
  EXPECT_EQ(h.CountEvents("input_quarantined"), 0);
}

// The watchdog kills a worker whose batch stopped advancing: every job in
// it is retried (alone), none is charged.
TEST(BatchFault, HangKillWithSeveralJobsRetriesThemAll) {
  Harness h(BatchOptions(3, 100));
  ASSERT_TRUE(h.WaitReady());
  auto a = h.Submit(Prompt("a"));
  auto stuck = h.Submit(WithFault(Prompt("b"), "hang_busy"));  // first attempt only
  auto c = h.Submit(Prompt("c"));
  ASSERT_TRUE(AllEnded(h, {a, stuck, c}));
  for (const auto& out : {a, stuck, c}) {
    EXPECT_TRUE(out->ok) << out->error.message;
    EXPECT_EQ(out->attempts, 2);
  }
  EXPECT_EQ(h.CountEvents("worker_hung"), 1);
  EXPECT_EQ(h.CountEvents("job_retried"), 3);
  EXPECT_EQ(h.CountEvents("job_suspected"), 0);  // one shared crash: retried batched
  EXPECT_EQ(h.CountEvents("input_quarantined"), 0);
  auto crash = WorkersJson(*h.sup)["workers"][0]["recent_crashes"][0];
  EXPECT_EQ(crash["cause"], "hung");
  EXPECT_EQ(crash["jobs"].size(), 3u);  // the report names every job
  EXPECT_FALSE(crash.contains("job_id"));  // no one job is the suspect
}

TEST(BatchFault, DrainLetsEveryRunningJobFinish) {
  Harness h(BatchOptions(3, 200));
  ASSERT_TRUE(h.WaitReady());
  std::vector<std::shared_ptr<Outcome>> outs;
  for (int i = 0; i < 3; ++i) outs.push_back(h.Submit(Prompt("in flight " + std::to_string(i))));
  bool drained = false;
  h.sup->Drain(milliseconds(3000), [&] { drained = true; });
  ASSERT_TRUE(h.RunUntil([&] { return drained; }, milliseconds(5000)));
  for (const auto& out : outs) EXPECT_TRUE(out->ok) << out->error.message;
  EXPECT_EQ(h.CountEvents("worker_killed"), 0);
}

}  // namespace
}  // namespace vigil::supervisor::testing
