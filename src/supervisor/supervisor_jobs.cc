// Job events from the pool: progress, text, the terminal frames, and loss.
#include "supervisor/fingerprint.h"
#include "supervisor/supervisor_impl.h"

namespace vigil::supervisor {

void SupervisorImpl::OnWorkerAvailable() { Pump(); }

void SupervisorImpl::OnPoolUnavailable() { Pump(); }

void SupervisorImpl::OnJobProgress(uint64_t job_id, const protocol::Progress& progress) {
  JobRecord* job = Find(job_id);
  if (!job) return;
  auto observer = job->observer;  // the callback may Cancel the job
  observer->OnProgress(progress);
}

// Passes on only text the client has not seen. During a replay, the new
// attempt's text must first reproduce what was delivered.
void SupervisorImpl::OnJobPiece(uint64_t job_id, const protocol::Piece& piece) {
  JobRecord* job = Find(job_id);
  if (!job) return;
  if (!job->spec.streaming) {
    auto observer = job->observer;
    observer->OnPiece(piece.text);
    return;
  }
  const size_t before = job->attempt_text.size();
  job->attempt_text += piece.text;
  const size_t after = job->attempt_text.size();
  const size_t delivered = job->delivered.size();
  if (before < delivered) {
    const size_t overlap = std::min(after, delivered) - before;
    if (job->attempt_text.compare(before, overlap, job->delivered, before, overlap) != 0) {
      return Diverged(*job);
    }
  }
  if (after <= delivered) return;
  std::string fresh = job->attempt_text.substr(std::max(before, delivered));
  job->delivered += fresh;
  auto observer = job->observer;
  observer->OnPiece(fresh);
}

void SupervisorImpl::Diverged(JobRecord& job) {
  CancelOnWorker(job);
  Fail(job.id, ErrorCode::kWorkerCrashed,
       "a worker crashed mid-stream and the replay diverged from the text already sent (" +
           CrashMessage(job) + ")",
       true);
}

void SupervisorImpl::OnJobDone(uint64_t job_id, protocol::Done& done) {
  JobRecord* job = Find(job_id);
  if (!job) return;
  if (job->attempt_text.size() < job->delivered.size()) return Diverged(*job);
  auto taken = Take(job_id);
  outcomes_["ok"]++;
  events_(LogLevel::kDebug, "job_done",
          {{"job_id", job_id}, {"request_id", taken->spec.request_id}, {"attempts", taken->attempts},
           {"finish_reason", done.finish_reason}});
  taken->observer->OnDone(done, taken->attempts);
  MaybeFinishDrain();
}

void SupervisorImpl::OnJobFailed(uint64_t job_id, const protocol::Failed& failed) {
  // A typed failure is the input's fault or the engine's: not retried.
  const bool retryable = failed.code == ErrorCode::kInternal ||
                         failed.code == ErrorCode::kOverloaded ||
                         failed.code == ErrorCode::kTimeout || failed.code == ErrorCode::kNotReady;
  Fail(job_id, failed.code, failed.message, retryable);
}

std::string SupervisorImpl::CrashMessage(const JobRecord& job) const {
  const auto& d = job.crash_details;
  if (d.empty()) return "worker crashed";
  const std::string attempts =
      std::to_string(job.attempts) + (job.attempts == 1 ? " attempt" : " attempts");
  bool same = std::all_of(d.begin(), d.end(), [&](const std::string& s) { return s == d[0]; });
  if (same) return "worker " + d[0] + " on " + attempts;
  std::string all;
  for (const auto& s : d) all += (all.empty() ? "" : "; ") + s;
  return "worker crashed on " + attempts + ": " + all;
}

// Kills the supervisor ordered for other reasons (a cancel ignored, a
// shutdown) say nothing about any input. A crash with several jobs in the
// worker says nothing about any one of them: each becomes a suspect, run
// alone from now on, so that its own crash, if it comes, is evidence.
void SupervisorImpl::Blame(JobRecord& job, const CrashReport& report, TimePoint now) {
  if (report.cause == "cancel_timeout" || report.cause == "shutdown") return;
  if (report.jobs.size() > 1) {
    if (!job.suspect) {
      events_(LogLevel::kWarn, "job_suspected",
              {{"job_id", job.id}, {"request_id", job.spec.request_id},
               {"fingerprint", ShortFingerprint(job.fingerprint)},
               {"jobs_in_worker", report.jobs.size()}, {"cause", report.cause}});
    }
    job.suspect = true;
    return;
  }
  if (quarantine_.RecordCrash(job.fingerprint, now)) {
    quarantined_total_++;
    events_(LogLevel::kWarn, "input_quarantined",
            {{"fingerprint", ShortFingerprint(job.fingerprint)},
             {"request_id", job.spec.request_id},
             {"crashes", quarantine_.Crashes(job.fingerprint, now)},
             {"for_s", Seconds(options_.quarantine_for)}});
  }
}

void SupervisorImpl::OnJobLost(uint64_t job_id, const CrashReport& report) {
  JobRecord* job = Find(job_id);
  if (!job) return;
  const TimePoint now = Clock::now();
  job->running = false;
  job->slot = -1;
  job->crash_details.push_back(report.detail);
  Blame(*job, report, now);
  if (quarantine_.IsQuarantined(job->fingerprint, now)) {
    return Fail(job_id, ErrorCode::kWorkerCrashed,
                CrashMessage(*job) + "; " + QuarantineMessage(job->fingerprint, now), false);
  }
  if (!job->delivered.empty() && !job->deterministic) {
    return Fail(job_id, ErrorCode::kWorkerCrashed,
                CrashMessage(*job) +
                    " after text was sent; the request is not deterministic, so it was not replayed",
                true);
  }
  if (job->attempts >= options_.max_attempts) {
    return Fail(job_id, ErrorCode::kWorkerCrashed, CrashMessage(*job), false);
  }
  retries_total_++;
  events_(LogLevel::kWarn, "job_retried",
          {{"job_id", job_id}, {"request_id", job->spec.request_id},
           {"attempt", job->attempts + 1}, {"cause", report.cause}, {"detail", report.detail},
           {"replay_chars", job->delivered.size()}, {"exclusive", job->suspect}});
  queue_.push_front(job_id);
  Pump();
}

}  // namespace vigil::supervisor
