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
  job->attempt_tokens.insert(job->attempt_tokens.end(), piece.tokens.begin(), piece.tokens.end());
  if (!piece.text.empty() && piece.tokens.empty()) job->attempt_tokens_complete = false;
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
  events_(LogLevel::kDebug, "job_finished",
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
// shutdown) say nothing about any input. The rest: supervisor_impl.h,
// "Suspects".
void SupervisorImpl::Blame(JobRecord& job, const CrashReport& report, TimePoint now) {
  if (report.cause == "cancel_timeout" || report.cause == "shutdown") return;
  // Found hung while its last heartbeat still said idle: the worker froze
  // (SIGSTOP from outside, say) before it began the job, so it saw nothing
  // of the input. The attempt counts; the input is not charged.
  if (report.cause == "hung" && report.phase == "idle") return;
  if (report.jobs.size() > 1) {
    ++job.shared_losses;
    if (++job.shared_crashes >= 2 && !job.suspect) {
      job.suspect = true;
      events_(LogLevel::kWarn, "job_suspected",
              {{"job_id", job.id}, {"request_id", job.spec.request_id},
               {"fingerprint", ShortFingerprint(job.fingerprint)},
               {"jobs_in_worker", report.jobs.size()}, {"cause", report.cause},
               {"shared_crashes", job.shared_crashes}});
    }
    return;
  }
  // A crash while the worker decoded or encoded an image is the image's:
  // each image of the job is charged, so the same image with another
  // prompt or max_tokens is refused too. A crash later is the request's.
  const bool in_image = (report.phase == "image_decode" || report.phase == "image_encode") &&
                        !job.image_fingerprints.empty();
  const std::vector<std::string> charged =
      in_image ? job.image_fingerprints : std::vector<std::string>{job.fingerprint};
  for (const std::string& fingerprint : charged) {
    bool quarantined = false;
    for (int i = 0; i <= job.shared_crashes; ++i) quarantined |= quarantine_.RecordCrash(fingerprint, now);
    if (!quarantined) continue;
    quarantined_total_++;
    events_(LogLevel::kWarn, "input_quarantined",
            {{"fingerprint", ShortFingerprint(fingerprint)},
             {"request_id", job.spec.request_id},
             {"scope", in_image ? "image" : "request"},
             {"crashes", quarantine_.Crashes(fingerprint, now)},
             {"for_s", Seconds(options_.quarantine_for)}});
  }
  job.shared_crashes = 0;  // charged now
}

void SupervisorImpl::OnJobLost(uint64_t job_id, const CrashReport& report) {
  JobRecord* job = Find(job_id);
  if (!job) return;
  const TimePoint now = Clock::now();
  job->running = false;
  job->slot = -1;
  job->crash_details.push_back(report.detail);
  Blame(*job, report, now);
  if (std::optional<std::string> poison = QuarantinedInput(*job, now)) {
    return Fail(job_id, ErrorCode::kWorkerCrashed,
                CrashMessage(*job) + "; " + QuarantineMessage(*poison, now), false);
  }
  // Resume from the longest run of tokens any attempt produced (an attempt
  // that died before re-emitting its resume tokens sent none of its own).
  if (job->attempt_tokens_complete && job->attempt_tokens.size() > job->resume_tokens.size()) {
    job->resume_tokens = std::move(job->attempt_tokens);
  }
  if (!job->delivered.empty() && !job->deterministic && job->resume_tokens.empty()) {
    return Fail(job_id, ErrorCode::kWorkerCrashed,
                CrashMessage(*job) +
                    " after text was sent; the request is not deterministic and its worker sent no token ids "
                    "to resume from, so it was not replayed",
                true);
  }
  if (job->attempts - job->shared_losses >= options_.max_attempts) {
    return Fail(job_id, ErrorCode::kWorkerCrashed, CrashMessage(*job), false);
  }
  retries_total_++;
  events_(LogLevel::kWarn, "job_retried",
          {{"job_id", job_id}, {"request_id", job->spec.request_id},
           {"attempt", job->attempts + 1}, {"cause", report.cause}, {"detail", report.detail},
           {"replay_chars", job->delivered.size()}, {"resume_tokens", job->resume_tokens.size()},
           {"exclusive", job->suspect}});
  queue_.push_front(job_id);
  Pump();
}

}  // namespace vigil::supervisor
