// WorkerHandle, part two: the worker's death. The pidfd fired and the child
// is reaped; read what it left behind, decide what killed it, report.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "supervisor/worker_handle.h"

namespace vigil::supervisor {

// Frames and output the worker wrote just before dying are still buffered in
// the kernel: read them now, so a Done sent before an exit still counts and
// the crash report carries the last stderr lines.
void WorkerHandle::DrainAfterExit() {
  char buf[16 * 1024];
  if (!killing()) {
    for (;;) {
      ssize_t n = ::recv(channel_.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
    }
    ProcessFrames();
  }
  for (;;) {
    ssize_t n = ::read(output_.native_handle(), buf, sizeof buf);
    if (n <= 0) break;
    OnOutputBytes(buf, static_cast<size_t>(n), false);
  }
  OnOutputBytes(nullptr, 0, true);
}

CrashReport WorkerHandle::MakeReport(const ExitInfo& info) const {
  CrashReport r;
  r.cause = info.cause;
  r.signal = info.signal;
  if (info.signal != 0) r.signal_name = SignalName(info.signal);
  r.exit_code = info.exit_code;
  r.detail = info.detail;
  r.stderr_tail.assign(stderr_tail_.begin(), stderr_tail_.end());
  r.state = std::string(WorkerStateName(state_));
  r.phase = monitor_.phase();
  r.jobs = RunningJobs();
  if (r.jobs.size() == 1) {
    r.job_id = r.jobs[0].job_id;
    r.request_id = r.jobs[0].request_id;
    r.fingerprint = r.jobs[0].fingerprint;
  }
  r.slot = config_.slot;
  r.incarnation = config_.incarnation;
  r.pid = pid_;
  r.uptime_s = Seconds(Clock::now() - spawned_at_);
  if (kill_reason_ != KillReason::kNone) {
    r.kill_to_reap_ms = std::chrono::duration<double, std::milli>(Clock::now() - kill_sent_at_).count();
  }
  r.time = std::chrono::system_clock::now();
  return r;
}

static bool MentionsOom(const std::deque<std::string>& tail) {
  for (const auto& line : tail) {
    if (line.find("bad_alloc") != std::string::npos ||
        line.find("out of memory") != std::string::npos ||
        line.find("Out of memory") != std::string::npos) {
      return true;
    }
  }
  return false;
}

// A SIGKILL nobody here sent, in a worker with its own cgroup: if the
// kernel's OOM killer counted a kill there, that was it. The cgroup goes
// once read (the process is reaped, so it is empty).
void WorkerHandle::ExplainCgroupOom(ExitInfo& info) {
  if (cgroup_dir_.empty()) return;
  const OomEvents oom = WorkerCgroups::ReadOomEvents(cgroup_dir_);
  WorkerCgroups::RemoveCgroup(cgroup_dir_);
  cgroup_dir_.clear();
  if (oom.oom_kill == 0 || kill_reason_ != KillReason::kNone || info.signal != SIGKILL) return;
  info.cause = "oom";
  info.detail = "ran out of memory: the kernel's OOM killer ended it at its cgroup's memory.max (" +
                std::to_string(config_.cgroup_memory_max >> 20) + " MiB; " + oom.evidence + "), " + info.detail;
}

void WorkerHandle::OnExit(int wait_status) {
  auto self = shared_from_this();
  reaped_ = true;
  DrainAfterExit();
  const bool stopping = state_ == WorkerState::kStopping;
  ExitInfo info = DescribeExit(wait_status, kill_reason_, stopping, MentionsOom(stderr_tail_));
  if (kill_reason_ != KillReason::kNone && info.cause == KillReasonName(kill_reason_)) {
    // e.g. "hung (no progress in phase decode for 10.0 s), killed with SIGKILL"
    static constexpr std::string_view kWhat[] = {"", "hung", "broke the protocol",
                                                 "ignored a cancel", "ignored a shutdown"};
    info.detail = std::string(kWhat[static_cast<int>(kill_reason_)]) + " (" + kill_why_ +
                  "), killed with SIGKILL";
  }
  if (info.cause == "sandbox_violation") {
    // The worker's last words name the call: "sandbox violation: execve (syscall 59)".
    for (const auto& line : stderr_tail_) {
      if (auto at = line.find("sandbox violation: "); at != std::string::npos) {
        info.detail = "killed by the sandbox for calling " + line.substr(at + 19) + " (SIGSYS)";
      }
    }
  }
  ExplainCgroupOom(info);
  if (info.cause == "fatal_config" && load_error_ && load_error_->code == ErrorCode::kOutOfMemory) {
    // Not a bad configuration: the device was full (the slot loads again later).
    info.cause = "load_out_of_memory";
    info.detail = "exited with code " + std::to_string(info.exit_code) + " (out of memory at load)";
  }
  std::optional<CrashReport> report;
  if (!info.expected) report = MakeReport(info);
  nlohmann::json fields = {{"cause", info.cause},
                           {"detail", info.detail},
                           {"state", WorkerStateName(state_)},
                           {"phase", monitor_.phase()},
                           {"incarnation", config_.incarnation},
                           {"uptime_s", Seconds(Clock::now() - spawned_at_)}};
  if (info.signal) fields["signal"] = SignalName(info.signal);
  if (info.exit_code >= 0) fields["exit_code"] = info.exit_code;
  if (!jobs_.empty()) {
    nlohmann::json job_ids = nlohmann::json::array(), request_ids = nlohmann::json::array();
    for (const auto& [id, job] : jobs_) {
      job_ids.push_back(id);
      request_ids.push_back(job.tag.request_id);
    }
    if (jobs_.size() == 1) {
      fields["job_id"] = job_ids[0];
      fields["request_id"] = request_ids[0];
    }
    fields["job_ids"] = std::move(job_ids);
    fields["request_ids"] = std::move(request_ids);
  }
  if (report && report->kill_to_reap_ms >= 0) fields["kill_to_reap_ms"] = report->kill_to_reap_ms;
  if (report && !report->stderr_tail.empty()) fields["last_output"] = report->stderr_tail.back();
  BecomeDead();
  if (config_.events) {
    fields["worker"] = id();
    fields["pid"] = pid_;
    config_.events(info.expected ? LogLevel::kInfo : LogLevel::kWarn, "worker_exited", fields);
  }
  delegate_.OnWorkerExited(*this, info, report ? &*report : nullptr);
}

}  // namespace vigil::supervisor
