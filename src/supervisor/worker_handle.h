// worker_handle.h: one incarnation of one worker process, seen from the
// supervisor: its process, its protocol channel, its state, its liveness.
//
// State machine (one Job at a time):
//
//   Spawn()
//     |
//     v
//   starting --Hello--> loading --Loaded--> idle --StartJob()--> busy
//                                            ^                    |
//                                            +----Done/Failed-----+
//   starting|loading|idle|busy --Stop()--> stopping   (Shutdown; SIGKILL after kill_grace)
//   any state --exit seen by the pidfd, reaped--> dead
//
// Kill() sends SIGKILL to the worker's process group and leaves the state
// alone until the exit is seen; from then on no frame is acted upon. A
// malformed frame or a protocol violation (second Hello, Loaded before
// Hello, a job message while idle or with another job's id) kills the
// worker: it is broken and is never resynchronised. So does a heartbeat
// watchdog verdict (hang_monitor.h), a closed channel while the process
// lives, or a Cancel not honoured within kill_grace.
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

namespace vigil::supervisor {

enum class WorkerState { kStarting, kLoading, kIdle, kBusy, kStopping, kDead };
std::string_view WorkerStateName(WorkerState state);

// What the supervisor knows about the job a worker runs (for crash reports).
struct JobTag {
  uint64_t job_id = 0;
  std::string request_id;
  std::string fingerprint;
};

class WorkerHandle : public std::enable_shared_from_this<WorkerHandle> {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    virtual void OnWorkerLoaded(WorkerHandle& w, const protocol::Loaded& loaded) = 0;
    virtual void OnJobProgress(WorkerHandle& w, const protocol::Progress& progress) = 0;
    virtual void OnJobPiece(WorkerHandle& w, const protocol::Piece& piece) = 0;
    // The worker is idle again when these two are called.
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
    EventSink events;  // log + listener; may be empty
  };

  WorkerHandle(boost::asio::io_context& io, ChildWatcher& watcher, Delegate& delegate, Config config);
  ~WorkerHandle();

  // Starts the process. An error means no process exists (state dead).
  Status Spawn();
  // REQUIRES: state() == kIdle.
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
  int slot() const { return config_.slot; }
  int incarnation() const { return config_.incarnation; }
  std::string id() const;  // "w<slot>.<incarnation>", for logs
  TimePoint spawned_at() const { return spawned_at_; }
  const std::optional<protocol::Loaded>& loaded() const { return loaded_; }
  // The typed cause the worker gave for a failed load (a `failed` frame
  // with job 0), if it gave one.
  const std::optional<Error>& load_error() const { return load_error_; }
  const std::string& phase() const { return monitor_.phase(); }
  const JobTag& job() const { return job_; }
  const std::deque<std::string>& stderr_tail() const { return stderr_tail_; }

 private:
  void ReadChannel();
  void ReadOutput();
  void OnOutputBytes(const char* data, size_t n, bool flush);
  bool ProcessFrames();  // false once the worker is being killed
  bool HandleFrame(protocol::Frame& frame);
  bool HandleJobFrame(protocol::Frame& frame);
  void Send(const protocol::Frame& frame);
  void WriteNext();
  void OnChannelClosed(const std::string& why);
  void ArmWatchdog();
  void EarlierWatchdog();
  void OnExit(int wait_status);
  void DrainAfterExit();
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
  JobTag job_;
  bool cancel_sent_ = false;
  KillReason kill_reason_ = KillReason::kNone;
  std::string kill_why_;
  TimePoint kill_sent_at_{};
  bool channel_closed_ = false;
  bool reaped_ = false;  // after this, the pid may belong to someone else: never kill it

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
  boost::asio::steady_timer cancel_timer_;
  boost::asio::steady_timer stop_timer_;
};

}  // namespace vigil::supervisor
