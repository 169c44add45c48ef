// worker_handle.h: one incarnation of one worker process, seen from the
// supervisor: its process, its protocol channel, its state, its liveness,
// and the jobs it runs.
//
// State machine (busy while at least one job runs):
//
//   Spawn()
//     |
//     v
//   starting --Hello--> loading --Loaded--> idle --StartJob()--> busy --StartJob()--+
//                                            ^                    |  ^              |
//                                            |                    |  +--------------+
//                                            +--last job ends-----+  (up to capacity())
//   starting|loading|idle|busy --Stop()--> stopping   (Shutdown; SIGKILL after kill_grace)
//   any state --exit seen by the pidfd, reaped--> dead
//
// Capacity: a worker whose hello says protocol 2 runs up to loaded.capacity
// jobs at once (capped by Config::max_jobs); a protocol-1 worker runs one.
// A job started exclusive is the only job in its worker until it ends: it
// starts only in a worker running nothing, and the worker takes no other
// job meanwhile (HasRoom).
//
// Kill() sends SIGKILL to the worker's process group and leaves the state
// alone until the exit is seen; from then on no frame is acted upon. A
// malformed frame or a protocol violation (second Hello, Loaded before
// Hello, a protocol version outside kMinProtocolVersion..kProtocolVersion,
// a frame for a job the worker is not running) kills the worker: it is
// broken and is never resynchronised. So does a heartbeat watchdog verdict
// (hang_monitor.h; one verdict for the whole worker, whatever it runs), a
// closed channel while the process lives, or a Cancel of any one job not
// honoured within kill_grace (each cancel has its own timer). A dead
// worker's crash report names every job it was running.
//
// Ownership: the pool owns handles through shared_ptr; asio handlers hold
// weak_ptrs, so destroying a handle is always safe. The destructor does not
// kill: call KillAndReapNow() first on teardown.
//
// Every delegate callback runs on the event-loop thread after the handle's
// own state is updated, so a delegate may call back into the handle (e.g.
// StartJob from OnJobDone).
#pragma once

#include <sys/types.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "supervisor/child_watcher.h"
#include "supervisor/clock.h"
#include "supervisor/crash_report.h"
#include "supervisor/events.h"
#include "supervisor/exit_status.h"
#include "supervisor/hang_monitor.h"
#include "supervisor/launcher.h"
#include "supervisor/memory_cgroup.h"

namespace vigil::supervisor {

enum class WorkerState { kStarting, kLoading, kIdle, kBusy, kStopping, kDead };
std::string_view WorkerStateName(WorkerState state);

class WorkerHandle : public std::enable_shared_from_this<WorkerHandle> {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    virtual void OnWorkerLoaded(WorkerHandle& w, const protocol::Loaded& loaded) = 0;
    virtual void OnJobProgress(WorkerHandle& w, const protocol::Progress& progress) = 0;
    virtual void OnJobPiece(WorkerHandle& w, const protocol::Piece& piece) = 0;
    // The job has left running_jobs() when these two are called.
    virtual void OnJobDone(WorkerHandle& w, protocol::Done& done) = 0;
    virtual void OnJobFailed(WorkerHandle& w, const protocol::Failed& failed) = 0;
    // The worker is dead and reaped. `report` is null for a requested stop.
    virtual void OnWorkerExited(WorkerHandle& w, const ExitInfo& info, const CrashReport* report) = 0;
  };

  struct Config {
    std::string binary;
    std::vector<std::string> args;
    int slot = 0;
    int incarnation = 0;
    HangLimits hang;
    std::chrono::milliseconds kill_grace{500};
    size_t stderr_lines = 50;
    int64_t address_space_limit = 0;
    // When set, the worker runs in its own cgroup below these with
    // memory.max = cgroup_memory_max (memory_cgroup.h); a kernel OOM kill
    // there is reported as cause oom with memory.events as evidence.
    std::shared_ptr<WorkerCgroups> cgroups;
    int64_t cgroup_memory_max = 0;
    int max_jobs = 1;  // caps the capacity a worker reports (jobs_per_worker)
    EventSink events;  // log + listener; may be empty
    SpawnHardening hardening;  // applied before exec (external workers; launcher.h)
  };

  WorkerHandle(boost::asio::io_context& io, ChildWatcher& watcher, Delegate& delegate, Config config);
  ~WorkerHandle();

  // Starts the process. An error means no process exists (state dead).
  Status Spawn();
  // REQUIRES: HasRoom(tag.exclusive). tag.job_id is set from job.job_id.
  void StartJob(protocol::Job job, JobTag tag);
  // Asks the worker to stop job_id; SIGKILL if it has not ended within
  // kill_grace. No-op if the worker is not running that job.
  void CancelJob(uint64_t job_id);
  // Shutdown frame, then SIGKILL after kill_grace. Each step is logged.
  void Stop();
  // SIGKILL now; the exit is reported later, through the pidfd.
  void Kill(KillReason reason, std::string why);
  // Teardown only: SIGKILL and reap synchronously; no callback follows.
  void KillAndReapNow();

  WorkerState state() const { return state_; }
  bool killing() const { return kill_reason_ != KillReason::kNone; }
  pid_t pid() const { return pid_; }
  // The program and its arguments, as spawned (before --fd).
  std::vector<std::string> command() const {
    std::vector<std::string> words{config_.binary};
    words.insert(words.end(), config_.args.begin(), config_.args.end());
    return words;
  }
  int slot() const { return config_.slot; }
  int incarnation() const { return config_.incarnation; }
  std::string id() const;  // "w<slot>.<incarnation>", for logs
  TimePoint spawned_at() const { return spawned_at_; }
  const std::optional<protocol::Loaded>& loaded() const { return loaded_; }
  // The typed cause the worker gave for a failed load (a `failed` frame
  // with job 0), if it gave one.
  const std::optional<Error>& load_error() const { return load_error_; }
  const std::string& phase() const { return monitor_.phase(); }
  // Protocol version the worker's hello named; 0 before the hello.
  int protocol_version() const { return protocol_version_; }
  // Jobs it may run at once: 1 until loaded and for a protocol-1 worker.
  int capacity() const;
  int running() const { return static_cast<int>(jobs_.size()); }
  bool Runs(uint64_t job_id) const { return jobs_.contains(job_id); }
  bool exclusive() const;  // an exclusive job runs
  // Loaded, neither stopping nor being killed, and room for one more job:
  // fewer than capacity() and no exclusive job running; an exclusive job
  // needs a worker running nothing.
  bool HasRoom(bool exclusive = false) const;
  // The running jobs, oldest (lowest id) first.
  std::vector<JobTag> RunningJobs() const;
  const std::deque<std::string>& stderr_tail() const { return stderr_tail_; }

 private:
  void ReadChannel();
  void ReadOutput();
  void OnOutputBytes(const char* data, size_t n, bool flush);
  bool ProcessFrames();  // false once the worker is being killed
  bool HandleFrame(protocol::Frame& frame);
  bool HandleHello(const protocol::Frame& frame);
  bool HandleJobFrame(protocol::Frame& frame);
  bool CheckJobFrame(protocol::MessageType type, uint64_t job_id);
  void FinishJob(uint64_t job_id);
  void Send(const protocol::Frame& frame);
  void WriteNext();
  void OnChannelClosed(const std::string& why);
  void ArmWatchdog();
  void EarlierWatchdog();
  void OnExit(int wait_status);
  void DrainAfterExit();
  void ExplainCgroupOom(ExitInfo& info);
  void Violation(std::string why) { Kill(KillReason::kProtocolError, std::move(why)); }
  void BecomeDead();
  void SetState(WorkerState s);
  void Emit(std::string_view event, nlohmann::json fields);
  CrashReport MakeReport(const ExitInfo& info) const;

  boost::asio::io_context& io_;
  ChildWatcher& watcher_;
  Delegate& delegate_;
  Config config_;

  WorkerState state_ = WorkerState::kStarting;
  pid_t pid_ = -1;
  TimePoint spawned_at_{};
  std::optional<protocol::Loaded> loaded_;
  std::optional<Error> load_error_;
  int protocol_version_ = 0;

  struct RunningJob {
    JobTag tag;
    // Armed by CancelJob: SIGKILL if the job has not ended within kill_grace.
    std::unique_ptr<boost::asio::steady_timer> cancel_timer;
  };
  std::map<uint64_t, RunningJob> jobs_;  // by job id: oldest first
  KillReason kill_reason_ = KillReason::kNone;
  std::string kill_why_;
  TimePoint kill_sent_at_{};
  bool channel_closed_ = false;
  bool reaped_ = false;  // after this, the pid may belong to someone else: never kill it
  std::string cgroup_dir_;  // the worker's own cgroup; empty: none

  boost::asio::local::stream_protocol::socket channel_;
  boost::asio::posix::stream_descriptor output_;
  protocol::FrameDecoder decoder_;
  std::vector<char> read_buf_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  std::string output_partial_;
  std::deque<std::string> stderr_tail_;

  HangMonitor monitor_;
  boost::asio::steady_timer watchdog_;
  boost::asio::steady_timer stop_timer_;
};

}  // namespace vigil::supervisor
