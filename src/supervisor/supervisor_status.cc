// Readiness, /v1/workers, /metrics, and draining.
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

nlohmann::json SupervisorImpl::WorkersJson() const {
  nlohmann::json j = pool_->ToJson();
  int running = 0;
  for (const auto& [id, job] : jobs_) running += job->running ? 1 : 0;
  const auto ready = GetReadiness();
  j["ready"] = ready.ready;
  if (!ready.ready) j["reason"] = ready.reason;
  j["draining"] = draining_;
  j["queue_depth"] = queue_.size();
  j["jobs_running"] = running;
  j["job_retries"] = retries_total_;
  j["inputs_quarantined"] = quarantine_.QuarantinedCount(Clock::now());
  return j;
}

void SupervisorImpl::AppendMetrics(std::string& out) const {
  auto counter = [&](const char* name, const char* help, const char* type, double v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(static_cast<int64_t>(v)) + "\n";
  };
  counter("vigil_queue_depth", "Jobs waiting for a worker.", "gauge", queue_.size());
  counter("vigil_job_retries_total", "Jobs retried on another worker after a worker died.",
          "counter", retries_total_);
  counter("vigil_inputs_quarantined_total", "Inputs put into quarantine.", "counter",
          quarantined_total_);
  counter("vigil_inputs_quarantined", "Inputs in quarantine now.", "gauge",
          quarantine_.QuarantinedCount(Clock::now()));
  out += "# HELP vigil_jobs_total Jobs ended, by outcome.\n# TYPE vigil_jobs_total counter\n";
  for (const auto& [outcome, n] : outcomes_) {
    out += "vigil_jobs_total{outcome=\"" + outcome + "\"} " + std::to_string(n) + "\n";
  }
  pool_->AppendMetrics(out);
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
  events_(LogLevel::kInfo, "workers_stopping", {});
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
