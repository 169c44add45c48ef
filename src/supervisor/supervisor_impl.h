// supervisor_impl.h: the Supervisor behind MakeSupervisor (internal).
//
// Life of a job:
//
//   Submit --quarantined / queue full / draining--> OnFailed at once
//     |
//     v
//   queued --a worker with room--> running --Done--> OnDone
//     ^                              |   --Failed--> OnFailed (typed, not retried)
//     |                              |   --worker died--> lost
//     +------ retry (queue front) ---+ (lost: attempts left, input not quarantined,
//                                       nothing streamed or deterministic replay)
//   deadline (queued or running): OnFailed kTimeout at once; a running
//   worker gets Cancel for this job only, then SIGKILL after kill_grace
//   (worker_handle.h), which loses the other jobs in it too (retried).
//   Cancel(id): dropped from the queue, or Cancel sent; no callback after.
//
// Routing: Pump walks the queue in order and asks the pool for the worker
// with room that suits each job (pool.h: image affinity, least loaded).
//
// Replay: when a job is retried after its worker produced text, the new
// attempt resumes: it gets the token ids the dead worker sent with its pieces
// (Job::resume_tokens), prefills them after the prompt in one go instead of
// generating them again, streams their text again and continues. Its text is
// compared with what was delivered; only text past that prefix is passed on,
// and a divergence ends the job with kWorkerCrashed. Without token ids (an
// engine that sends none) the new attempt starts over, which only a
// deterministic job (temperature 0 or a fixed seed) may do once text reached
// the client.
//
// Suspects: a worker may run several jobs at once. When it dies (crash,
// hang kill, protocol break) with one job in it, that job is the sole
// suspect: the crash is charged to its fingerprint (quarantine after
// `quarantine_after` charges). When it dies with K > 1 jobs in it, the crash
// proves nothing about any one of them, and none is charged:
//   - the first time, each job is retried at once, batched as usual: the
//     common case (a signal from outside, the host's OOM killer, a driver
//     fault) costs the K jobs one takeover, and a loaded spare resumes them
//     all together instead of one after another;
//   - a job present at a second such crash becomes a *suspect*, retried
//     exclusive, i.e. alone in an otherwise idle worker, on every later
//     attempt;
//   - a crash while a job runs alone is evidence: it charges the fingerprint
//     once, plus once for each earlier crash the job was present at;
//   - except a worker found hung while its last heartbeat still said idle:
//     it froze before it began the job (SIGSTOP from outside, say), so the
//     attempt counts and nothing is charged;
//   - a shared crash does not use up one of the job's `max_attempts` (it
//     was not shown to be the job's); there are at most two of them before
//     the job runs alone, so a job gets at most max_attempts + 2 workers.
// A poison input therefore crashes its batch twice, then a worker alone, and
// is quarantined; its innocent batch-mates finish on their alone attempt and
// are never charged. A suspect waiting at the queue front reserves a worker
// (it takes no new shared jobs, drains, and the suspect gets it), so it is
// not starved.
// Kills the supervisor ordered for other reasons (a cancel ignored, a
// shutdown) charge no one and make no suspects.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "supervisor/clock.h"
#include "supervisor/events.h"
#include "supervisor/pool.h"
#include "supervisor/quarantine.h"
#include "supervisor/supervisor.h"

namespace vigil::supervisor {

struct JobRecord {
  JobId id = 0;
  JobSpec spec;
  std::shared_ptr<JobObserver> observer;
  std::string fingerprint;
  std::vector<std::string> image_fingerprints;  // one per image (fingerprint.h)
  bool deterministic = false;
  uint64_t image_key = 0;     // routing: a hash of the image bytes; 0: none
  int shared_crashes = 0;     // crashes of a worker that ran it with other jobs, not yet charged
  int shared_losses = 0;      // all such crashes: they do not use up its attempts
  bool suspect = false;       // at two such crashes: every later attempt runs alone
  bool running = false;       // else queued
  int slot = -1;              // while running
  int attempts = 0;           // workers that started it
  std::string delivered;      // text passed to the observer
  std::string attempt_text;   // text of the current attempt
  std::vector<int32_t> attempt_tokens;  // token ids of the current attempt's pieces
  bool attempt_tokens_complete = true;  // every piece with text carried its ids
  std::vector<int32_t> resume_tokens;   // sent with the next attempt (resume, not restart)
  std::vector<std::string> crash_details;
  TimePoint deadline;
  std::unique_ptr<boost::asio::steady_timer> timer;
};

class SupervisorImpl final : public Supervisor, public PoolListener {
 public:
  SupervisorImpl(boost::asio::io_context& io, SupervisorOptions options);
  ~SupervisorImpl() override;

  // Supervisor / Dispatcher
  void Start() override;
  JobId Submit(JobSpec spec, std::shared_ptr<JobObserver> observer) override;
  void Cancel(JobId id) override;
  Readiness GetReadiness() const override;
  SupervisorSnapshot Snapshot() const override;
  std::string ModelName() const override;
  void Drain(std::chrono::milliseconds grace, std::function<void()> done) override;

  // PoolListener
  void OnWorkerAvailable() override;
  void OnJobProgress(uint64_t job_id, const protocol::Progress& progress) override;
  void OnJobPiece(uint64_t job_id, const protocol::Piece& piece) override;
  void OnJobDone(uint64_t job_id, protocol::Done& done) override;
  void OnJobFailed(uint64_t job_id, const protocol::Failed& failed) override;
  void OnJobLost(uint64_t job_id, const CrashReport& report) override;
  void OnPoolUnavailable() override;

 private:
  JobRecord* Find(JobId id);
  std::unique_ptr<JobRecord> Take(JobId id);  // removes from the table and the queue
  void Pump();
  void StartAttempt(JobRecord& job, WorkerHandle& worker);
  void FailQueued(const Error& e);
  // Charges a crash to the job's input if it ran alone, or makes it a suspect.
  void Blame(JobRecord& job, const CrashReport& report, TimePoint now);
  void OnDeadline(JobId id);
  void CancelOnWorker(JobRecord& job);
  void Fail(JobId id, ErrorCode code, std::string message, bool retryable);
  void Diverged(JobRecord& job);
  std::string CrashMessage(const JobRecord& job) const;
  std::string QuarantineMessage(const std::string& fingerprint, TimePoint now) const;
  // The job's request or image fingerprint that is quarantined at `now`, if any.
  std::optional<std::string> QuarantinedInput(const JobRecord& job, TimePoint now) const;
  void MaybeFinishDrain();
  void StopWorkers();

  boost::asio::io_context& io_;
  SupervisorOptions options_;
  EventSink events_;
  std::unique_ptr<Pool> pool_;
  Quarantine quarantine_;
  std::unordered_map<JobId, std::unique_ptr<JobRecord>> jobs_;
  std::deque<JobId> queue_;
  JobId next_id_ = 1;
  bool started_ = false;

  bool draining_ = false;
  bool stopping_workers_ = false;
  bool drained_ = false;  // workers stopped; later Drain calls finish at once
  std::vector<std::function<void()>> drain_done_;
  std::unique_ptr<boost::asio::steady_timer> drain_timer_;

  // metrics
  int64_t retries_total_ = 0;
  int64_t quarantined_total_ = 0;
  std::map<std::string, int64_t> outcomes_;  // jobs ended, by ErrorCode wire name or "ok"

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::supervisor
