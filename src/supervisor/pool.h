// pool.h: the workers of one model: N slots, each running one incarnation
// of a worker at a time, restarted as restart_policy.h decides: at once
// after a crash in service, with backoff and finally a hold after crashes
// at load.
//
// Slot state machine (the worker inside has its own, worker_handle.h):
//
//   kRunning --worker exited unasked--> kRestarting --backoff--> kRunning (incarnation+1)
//   kRunning --crash loop at load--> kHeld --restart_period--> kRunning
//   kRunning --exit code 2, or exec failed--> kFailed   (never respawned)
//   any --StopAll()--> kStopped
//
// Each worker runs up to its capacity() of jobs at once (worker_handle.h;
// `jobs_per_worker` is passed to it as --jobs N). `workers` regular slots
// serve jobs; `spare_workers` more are spawned and loaded but stand in only
// for regular slots without a loaded worker (dead, restarting, loading,
// being killed), so after a crash a loaded spare takes the dead worker's
// place at once, and while every regular worker lives the spares stay
// idle: they take jobs only when the regular workers cannot.
//
// Routing (TakeWithRoom): among the workers that may serve and have room,
// one that recently ran the job's image (its engine keeps an embedding
// cache) is preferred; then the least loaded; then the lowest slot. An
// exclusive job needs a worker running nothing; while none is, the caller
// may reserve one (ReserveForExclusive): it takes no new shared jobs, so it
// drains and the exclusive job gets it.
//
// The pool knows workers, not jobs: job events go to the PoolListener with
// their job id; a worker that dies reports every job it ran as lost, each
// with the same crash report (which names them all). Thread-safety: none
// (event-loop thread).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "supervisor/child_watcher.h"
#include "supervisor/crash_report.h"
#include "supervisor/events.h"
#include "supervisor/restart_policy.h"
#include "supervisor/supervisor.h"
#include "supervisor/worker_handle.h"

namespace vigil::supervisor {

// What routing needs to know about a job.
struct JobRouting {
  uint64_t image_key = 0;  // a hash of the encoded image bytes; 0: no image
  bool exclusive = false;  // must run alone in its worker
};

class PoolListener {
 public:
  virtual ~PoolListener() = default;
  // A worker has room again (loaded, or finished a job): dispatch.
  virtual void OnWorkerAvailable() = 0;
  virtual void OnJobProgress(uint64_t job_id, const protocol::Progress& progress) = 0;
  virtual void OnJobPiece(uint64_t job_id, const protocol::Piece& piece) = 0;
  virtual void OnJobDone(uint64_t job_id, protocol::Done& done) = 0;
  virtual void OnJobFailed(uint64_t job_id, const protocol::Failed& failed) = 0;
  // The worker running job_id died (report.cause says how; report.jobs
  // names every job it ran, this one included). Called once per job, the
  // newest first, so a listener that requeues each at the front keeps
  // their order.
  virtual void OnJobLost(uint64_t job_id, const CrashReport& report) = 0;
  // No slot is running or restarting any more (each is held by the restart
  // intensity, or failed): queued jobs will not be served soon.
  virtual void OnPoolUnavailable() {}
};

class Pool : public WorkerHandle::Delegate {
 public:
  enum class SlotState { kRunning, kRestarting, kHeld, kFailed, kStopped };

  Pool(boost::asio::io_context& io, const SupervisorOptions& options, PoolListener& listener,
       EventSink events);
  ~Pool() override;  // SIGKILLs and reaps every worker

  void Start();
  // The worker the job should run on (see Routing above), or null if none
  // has room. The caller starts the job on it at once: the pool remembers
  // the job's image for that worker.
  WorkerHandle* TakeWithRoom(const JobRouting& routing);
  // Marks the least loaded serving worker that is neither reserved nor
  // running nothing as reserved for an exclusive job: TakeWithRoom gives it
  // no shared job, so it drains. False if there is none. A reservation ends
  // when an exclusive job takes the worker, when the worker dies, or at
  // LimitReservations. Reservations stay across dispatch passes: moving one
  // to another worker each pass could starve the exclusive job.
  bool ReserveForExclusive();
  int reservations() const;  // on serving workers
  // Ends reservations beyond `keep` (the most loaded workers' first) and
  // any on a worker that no longer serves.
  void LimitReservations(int keep);
  // The live worker of a slot, or null.
  WorkerHandle* WorkerAt(int slot);
  // Shutdown to every worker, SIGKILL after kill_grace; `done` once all
  // are reaped. No restarts after this.
  void StopAll(std::function<void()> done);

  bool AnyLoaded() const;
  // False when every slot is held or failed: no worker will come soon.
  bool AnyCanServeSoon() const;
  std::string NotReadyReason() const;
  // The error for requests when no slot can serve soon: out_of_memory if
  // every slot waits for device memory, else not_ready; the message is
  // NotReadyReason().
  Error NotReadyError() const;
  std::string ModelName() const;
  // The pool's part of the supervisor's snapshot: slots, restarts by cause,
  // the last kill-to-reap time, the model name.
  void FillSnapshot(SupervisorSnapshot& snapshot) const;

  // WorkerHandle::Delegate
  void OnWorkerLoaded(WorkerHandle& w, const protocol::Loaded& loaded) override;
  void OnJobProgress(WorkerHandle& w, const protocol::Progress& progress) override;
  void OnJobPiece(WorkerHandle& w, const protocol::Piece& piece) override;
  void OnJobDone(WorkerHandle& w, protocol::Done& done) override;
  void OnJobFailed(WorkerHandle& w, const protocol::Failed& failed) override;
  void OnWorkerExited(WorkerHandle& w, const ExitInfo& info, const CrashReport* report) override;

 private:
  struct Slot {
    int index = 0;
    int incarnation = 0;
    std::string device;  // --device for this slot's workers; empty: the worker's default
    SlotState state = SlotState::kRestarting;
    std::shared_ptr<WorkerHandle> worker;
    RestartPolicy policy;
    std::unique_ptr<boost::asio::steady_timer> timer;
    TimePoint restart_at{};
    std::string reason;  // why held or failed
    ErrorCode failure = ErrorCode::kNotReady;  // failed or held: the typed cause requests get
    int64_t jobs_served = 0;
    int64_t restarts = 0;
    std::deque<CrashReport> crashes;  // newest last
    std::deque<uint64_t> recent_images;  // image keys its worker ran, newest last
    bool reserved = false;               // for an exclusive job (ReserveForExclusive)
  };
  void SpawnSlot(Slot& slot);
  // The slots whose workers may take jobs now: the loaded regular ones, and
  // as many loaded spares as regular slots lack a loaded worker (spares
  // already running jobs first). Regular slots first, in slot order.
  std::vector<Slot*> Serving() const;
  static void RememberImage(Slot& slot, uint64_t image_key);
  // load_error: the typed cause a worker gave for failing to load, if any.
  // had_loaded: the worker had sent `loaded` (a crash in service, not at load).
  void ScheduleRestart(Slot& slot, const ExitInfo& info, const CrashReport* report,
                       const std::optional<Error>& load_error = std::nullopt, bool had_loaded = false);
  void HoldForMemory(Slot& slot, const ExitInfo& info, const Error& load_error);
  void RecordCrash(Slot& slot, const CrashReport& report);
  void MaybeFinishStop();
  SlotSnapshot SnapshotOf(const Slot& slot) const;
  std::string SlotStateName(const Slot& slot) const;

  boost::asio::io_context& io_;
  const SupervisorOptions& options_;
  PoolListener& listener_;
  EventSink events_;
  ChildWatcher watcher_;
  std::vector<std::unique_ptr<Slot>> slots_;
  bool stopping_ = false;
  std::function<void()> stop_done_;
  std::map<std::string, int64_t> restarts_by_cause_;
  double last_kill_to_reap_ms_ = -1;
  std::string model_name_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::supervisor
