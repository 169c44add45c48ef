#include <cmath>
#include <cstdio>
#include <functional>

#include "supervisor/fingerprint.h"
#include "supervisor/supervisor_impl.h"

namespace vigil::supervisor {

namespace asio = boost::asio;

std::unique_ptr<Supervisor> MakeSupervisor(asio::io_context& io, SupervisorOptions options) {
  return std::make_unique<SupervisorImpl>(io, std::move(options));
}

SupervisorImpl::SupervisorImpl(asio::io_context& io, SupervisorOptions options)
    : io_(io),
      options_(std::move(options)),
      events_(MakeEventSink(options_.event_listener)),
      quarantine_(options_.quarantine_after, options_.quarantine_for) {
  options_.max_attempts = std::max(1, options_.max_attempts);
  pool_ = std::make_unique<Pool>(io_, options_, *this, events_);
}

SupervisorImpl::~SupervisorImpl() {
  *alive_ = false;
  pool_.reset();  // SIGKILL + reap every worker before the jobs go
}

void SupervisorImpl::Start() {
  if (started_) return;
  started_ = true;
  pool_->Start();
}

JobRecord* SupervisorImpl::Find(JobId id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second.get();
}

std::unique_ptr<JobRecord> SupervisorImpl::Take(JobId id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return nullptr;
  auto job = std::move(it->second);
  jobs_.erase(it);
  if (!job->running) std::erase(queue_, id);
  job->timer->cancel();
  return job;
}

JobId SupervisorImpl::Submit(JobSpec spec, std::shared_ptr<JobObserver> observer) {
  const JobId id = next_id_++;
  const TimePoint now = Clock::now();
  if (!options_.allow_fault_injection) spec.fault.reset();
  auto reject = [&](ErrorCode code, std::string message, bool retryable) {
    outcomes_[std::string(WireName(code))]++;
    events_(LogLevel::kInfo, "job_rejected", {{"job_id", id}, {"request_id", spec.request_id},
                                              {"error", WireName(code)}, {"message", message}});
    observer->OnFailed(MakeError(code, std::move(message)), 0, retryable);
    return id;
  };
  if (draining_) return reject(ErrorCode::kNotReady, "the server is shutting down", true);
  std::string fingerprint = Fingerprint(spec);
  std::vector<std::string> image_fingerprints = ImageFingerprints(spec);
  if (quarantine_.IsQuarantined(fingerprint, now)) {
    return reject(ErrorCode::kInputQuarantined, QuarantineMessage(fingerprint, now), false);
  }
  for (const std::string& image : image_fingerprints) {
    if (quarantine_.IsQuarantined(image, now)) {
      return reject(ErrorCode::kInputQuarantined,
                    "an image of this request: " + QuarantineMessage(image, now), false);
    }
  }
  if (started_ && !pool_->AnyCanServeSoon()) {
    Error e = pool_->NotReadyError();
    const bool retryable = e.code == ErrorCode::kNotReady;
    return reject(e.code, std::move(e.message), retryable);
  }
  if (static_cast<int>(queue_.size()) >= options_.max_queue) {
    return reject(ErrorCode::kOverloaded,
                  "the queue is full (" + std::to_string(queue_.size()) + " jobs waiting)", true);
  }
  auto job = std::make_unique<JobRecord>();
  job->id = id;
  job->fingerprint = std::move(fingerprint);
  job->image_fingerprints = std::move(image_fingerprints);
  job->deterministic = spec.params.temperature == 0 || spec.params.seed != 0;
  // Routing only: a collision costs an embedding-cache miss, nothing more.
  // The first image stands for the job's images here.
  if (!spec.images.empty()) job->image_key = std::hash<std::string>{}(spec.images.front()) | 1;
  auto timeout = options_.request_timeout;
  if (spec.timeout.count() > 0) timeout = std::min(timeout, spec.timeout);
  job->deadline = now + timeout;
  job->spec = std::move(spec);
  job->observer = std::move(observer);
  job->timer = std::make_unique<asio::steady_timer>(io_, job->deadline);
  job->timer->async_wait([this, id, alive = std::weak_ptr<bool>(alive_)](
                             const boost::system::error_code& ec) {
    if (!ec && alive.lock()) OnDeadline(id);
  });
  jobs_.emplace(id, std::move(job));
  queue_.push_back(id);
  Pump();
  return id;
}

void SupervisorImpl::Pump() {
  if (started_ && !draining_ && !queue_.empty() && !pool_->AnyCanServeSoon()) {
    // Every slot is held or failed: the queued jobs (new ones, or retries of
    // a lost one) get not_ready now, as a Submit would, not 504 at their deadline.
    return FailQueued(pool_->NotReadyError());
  }
  // Each suspect that finds no idle worker holds one reservation (pool.h);
  // suspects sit at the queue front (retries go there), so they claim
  // workers before new jobs do.
  int waiting_suspects = 0;
  bool shared_room = true;  // once a shared job finds no room, none will
  for (auto it = queue_.begin(); it != queue_.end();) {
    JobRecord* job = Find(*it);
    if (!job) {
      it = queue_.erase(it);
      continue;
    }
    if (!job->suspect && !shared_room) {
      ++it;
      continue;
    }
    WorkerHandle* worker = pool_->TakeWithRoom({.image_key = job->image_key, .exclusive = job->suspect});
    if (!worker) {
      if (job->suspect) {
        if (pool_->reservations() <= waiting_suspects) pool_->ReserveForExclusive();
        waiting_suspects++;
      } else {
        shared_room = false;
      }
      ++it;
      continue;
    }
    it = queue_.erase(it);
    StartAttempt(*job, *worker);
  }
  pool_->LimitReservations(waiting_suspects);
}

void SupervisorImpl::FailQueued(const Error& e) {
  const std::deque<JobId> waiting = queue_;
  for (JobId id : waiting) Fail(id, e.code, e.message, e.code == ErrorCode::kNotReady);
}

void SupervisorImpl::StartAttempt(JobRecord& job, WorkerHandle& worker) {
  job.attempts++;
  job.running = true;
  job.slot = worker.slot();
  job.attempt_text.clear();
  job.attempt_tokens.clear();
  job.attempt_tokens_complete = true;
  protocol::Job msg;
  msg.resume_tokens = job.resume_tokens;
  msg.job_id = job.id;
  msg.prompt = job.spec.prompt;
  msg.params = job.spec.params;
  msg.messages = job.spec.messages;
  msg.images = job.spec.images;
  // A test's fault applies to the first attempt only, unless it asks for all.
  if (job.spec.fault && (job.attempts == 1 || job.spec.fault_on_every_attempt)) {
    msg.fault = job.spec.fault;
  }
  events_(LogLevel::kDebug, "job_started",
          {{"job_id", job.id}, {"request_id", job.spec.request_id}, {"worker", worker.id()},
           {"attempt", job.attempts}, {"exclusive", job.suspect},
           {"worker_jobs", worker.running() + 1}});
  worker.StartJob(std::move(msg), JobTag{.job_id = job.id,
                                         .request_id = job.spec.request_id,
                                         .fingerprint = job.fingerprint,
                                         .exclusive = job.suspect});
}

void SupervisorImpl::CancelOnWorker(JobRecord& job) {
  if (!job.running) return;
  WorkerHandle* worker = pool_->WorkerAt(job.slot);
  if (worker && worker->Runs(job.id)) worker->CancelJob(job.id);
}

void SupervisorImpl::Cancel(JobId id) {
  JobRecord* job = Find(id);
  if (!job) return;
  CancelOnWorker(*job);
  auto taken = Take(id);
  outcomes_["cancelled"]++;
  events_(LogLevel::kInfo, "job_cancelled", {{"job_id", id}, {"request_id", taken->spec.request_id}});
  MaybeFinishDrain();
}

void SupervisorImpl::OnDeadline(JobId id) {
  JobRecord* job = Find(id);
  if (!job) return;
  CancelOnWorker(*job);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f s",
                Seconds(job->spec.timeout.count() > 0
                            ? std::min<Clock::duration>(job->spec.timeout, options_.request_timeout)
                            : Clock::duration(options_.request_timeout)));
  Fail(id, ErrorCode::kTimeout, std::string("the request did not finish within ") + buf, true);
}

// Ends a job with an error: exactly once, after it left every table.
void SupervisorImpl::Fail(JobId id, ErrorCode code, std::string message, bool retryable) {
  auto job = Take(id);
  if (!job) return;
  outcomes_[std::string(WireName(code))]++;
  events_(code == ErrorCode::kWorkerCrashed ? LogLevel::kWarn : LogLevel::kInfo, "job_failed",
          {{"job_id", id}, {"request_id", job->spec.request_id}, {"error", WireName(code)},
           {"message", message}, {"attempts", job->attempts}});
  job->observer->OnFailed(MakeError(code, std::move(message)), job->attempts, retryable);
  MaybeFinishDrain();
}

std::optional<std::string> SupervisorImpl::QuarantinedInput(const JobRecord& job, TimePoint now) const {
  if (quarantine_.IsQuarantined(job.fingerprint, now)) return job.fingerprint;
  for (const std::string& image : job.image_fingerprints) {
    if (quarantine_.IsQuarantined(image, now)) return image;
  }
  return std::nullopt;
}

std::string SupervisorImpl::QuarantineMessage(const std::string& fingerprint, TimePoint now) const {
  const int crashes = quarantine_.Crashes(fingerprint, now);
  auto until = quarantine_.QuarantinedUntil(fingerprint, now);
  const double left = until ? Seconds(*until - now) : 0;
  std::string times = crashes == 1 ? "once" : crashes == 2 ? "twice" : std::to_string(crashes) + " times";
  std::string span = left >= 90 ? std::to_string(static_cast<int>(std::ceil(left / 60))) + " minutes"
                                : std::to_string(static_cast<int>(std::ceil(left))) + " seconds";
  return "the model crashed on this input " + times + "; it is quarantined for " + span;
}

}  // namespace vigil::supervisor
