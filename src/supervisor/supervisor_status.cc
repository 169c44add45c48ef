// Readiness, the snapshot the front renders (/v1/workers, /metrics), and draining.
#include <boost/asio/post.hpp>

#include "supervisor/supervisor_impl.h"

namespace vigil::supervisor {

namespace asio = boost::asio;

Readiness SupervisorImpl::GetReadiness() const {
  if (draining_) return {false, "draining"};
  if (!started_) return {false, "not started"};
  if (pool_->AnyLoaded()) return {true, ""};
  return {false, pool_->NotReadyReason()};
}

std::string SupervisorImpl::ModelName() const { return pool_->ModelName(); }

SupervisorSnapshot SupervisorImpl::Snapshot() const {
  SupervisorSnapshot s;
  pool_->FillSnapshot(s);
  s.readiness = GetReadiness();
  s.draining = draining_;
  s.queue_depth = static_cast<int64_t>(queue_.size());
  for (const auto& [id, job] : jobs_) s.jobs_running += job->running ? 1 : 0;
  s.job_retries = retries_total_;
  s.inputs_quarantined = quarantine_.QuarantinedCount(Clock::now());
  s.inputs_quarantined_total = quarantined_total_;
  s.jobs_by_outcome = outcomes_;
  return s;
}

// Drain: refuse new jobs, let the running and queued ones end within grace,
// then stop the workers (Shutdown, SIGKILL after kill_grace), then done.
void SupervisorImpl::Drain(std::chrono::milliseconds grace, std::function<void()> done) {
  if (drained_) {
    if (done) asio::post(io_, std::move(done));
    return;
  }
  if (done) drain_done_.push_back(std::move(done));
  const bool first = !draining_;
  draining_ = true;
  if (first) events_(LogLevel::kInfo, "drain_started", {{"grace_ms", grace.count()}, {"jobs", jobs_.size()}});
  const TimePoint at = Clock::now() + grace;
  if (!drain_timer_) {
    drain_timer_ = std::make_unique<asio::steady_timer>(io_, at);
  } else if (at < drain_timer_->expiry()) {
    drain_timer_->expires_at(at);  // a second, shorter drain wins
  } else {
    return MaybeFinishDrain();
  }
  drain_timer_->async_wait([this, alive = std::weak_ptr<bool>(alive_)](
                               const boost::system::error_code& ec) {
    if (ec || !alive.lock()) return;
    std::vector<JobId> left;
    for (const auto& [id, job] : jobs_) left.push_back(id);
    for (JobId id : left) {
      if (JobRecord* job = Find(id)) CancelOnWorker(*job);
      Fail(id, ErrorCode::kNotReady, "the server shut down before the request finished", true);
    }
    StopWorkers();
  });
  MaybeFinishDrain();
}

void SupervisorImpl::MaybeFinishDrain() {
  if (draining_ && jobs_.empty()) StopWorkers();
}

void SupervisorImpl::StopWorkers() {
  if (stopping_workers_) return;
  stopping_workers_ = true;
  if (drain_timer_) drain_timer_->cancel();
  events_(LogLevel::kInfo, "workers_stop_requested", {});
  pool_->StopAll([this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.lock()) return;
    drained_ = true;
    events_(LogLevel::kInfo, "drain_finished", {});
    auto callbacks = std::move(drain_done_);
    drain_done_.clear();
    for (auto& cb : callbacks) cb();
  });
}

}  // namespace vigil::supervisor
