// pool.h: the workers of one model: N slots, each running one incarnation
// of a worker at a time, restarted with backoff under a restart intensity.
//
// Slot state machine (the worker inside has its own, worker_handle.h):
//
//   kRunning --worker exited unasked--> kRestarting --backoff--> kRunning (incarnation+1)
//   kRunning --exited, intensity exceeded--> kHeld --restart_period--> kRunning
//   kRunning --exit code 2, or exec failed--> kFailed   (never respawned)
//   any --StopAll()--> kStopped
//
// `workers` slots run jobs at once; `spare_workers` more are spawned and
// loaded but only take a job while fewer than `workers` are busy, so after
// a crash a loaded spare takes the dead worker's place at once.
//
// The pool knows workers, not jobs: job events go to the PoolListener with
// their job id; a worker that dies while running a job reports it as lost,
// with the crash report. Thread-safety: none (event-loop thread).
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

class PoolListener {
 public:
  virtual ~PoolListener() = default;
  // A worker became idle (loaded, or finished a job): dispatch.
  virtual void OnWorkerAvailable() = 0;
  virtual void OnJobProgress(uint64_t job_id, const protocol::Progress& progress) = 0;
  virtual void OnJobPiece(uint64_t job_id, const protocol::Piece& piece) = 0;
  virtual void OnJobDone(uint64_t job_id, protocol::Done& done) = 0;
  virtual void OnJobFailed(uint64_t job_id, const protocol::Failed& failed) = 0;
  // The worker running job_id died (report.cause says how).
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
  // An idle worker, if fewer than `workers` are busy; else null.
  WorkerHandle* TakeIdle();
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
  nlohmann::json ToJson() const;
  void AppendMetrics(std::string& out) const;

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
  };
  void SpawnSlot(Slot& slot);
  // load_error: the typed cause a worker gave for failing to load, if any.
  void ScheduleRestart(Slot& slot, const ExitInfo& info, const CrashReport* report,
                       const std::optional<Error>& load_error = std::nullopt);
  void HoldForMemory(Slot& slot, const ExitInfo& info, const Error& load_error);
  void RecordCrash(Slot& slot, const CrashReport& report);
  void MaybeFinishStop();
  nlohmann::json SlotJson(const Slot& slot) const;
  void AppendDeviceMetrics(std::string& out) const;
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
