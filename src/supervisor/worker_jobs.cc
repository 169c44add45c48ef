// WorkerHandle, part three: the jobs a worker runs. Up to capacity() at
// once, each with its own cancel timer; every job frame must name one of
// them, or the worker is broken.
#include "supervisor/worker_handle.h"

namespace vigil::supervisor {

using protocol::MessageType;

int WorkerHandle::capacity() const {
  // A protocol-1 worker has no `capacity`; its parser's default (1) is right too.
  if (!loaded_ || protocol_version_ < 2) return 1;
  return static_cast<int>(std::clamp<int64_t>(loaded_->capacity, 1, std::max(1, config_.max_jobs)));
}

bool WorkerHandle::exclusive() const {
  for (const auto& [id, job] : jobs_) {
    if (job.tag.exclusive) return true;
  }
  return false;
}

bool WorkerHandle::HasRoom(bool exclusive_job) const {
  if (state_ != WorkerState::kIdle && state_ != WorkerState::kBusy) return false;
  if (killing() || channel_closed_) return false;
  if (exclusive_job) return jobs_.empty();
  return running() < capacity() && !exclusive();
}

std::vector<JobTag> WorkerHandle::RunningJobs() const {
  std::vector<JobTag> tags;
  for (const auto& [id, job] : jobs_) tags.push_back(job.tag);
  return tags;
}

void WorkerHandle::StartJob(protocol::Job job, JobTag tag) {
  tag.job_id = job.job_id;
  jobs_.emplace(job.job_id, RunningJob{.tag = std::move(tag)});
  // Only the first job enters busy: restarting the hang monitor's progress
  // clock for every job that joins would hide a stuck batch under steady load.
  if (state_ == WorkerState::kIdle) SetState(WorkerState::kBusy);
  Send(protocol::ToFrame(job));
}

void WorkerHandle::CancelJob(uint64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.cancel_timer || killing()) return;
  Send(protocol::ToFrame(protocol::Cancel{job_id}));
  auto& timer = it->second.cancel_timer;
  timer = std::make_unique<boost::asio::steady_timer>(io_, config_.kill_grace);
  timer->async_wait([weak = weak_from_this(), job_id](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || !self->Runs(job_id) || self->state_ == WorkerState::kDead) return;
    self->Kill(KillReason::kCancelTimeout,
               "job " + std::to_string(job_id) + " still running kill_grace after cancel");
  });
}

void WorkerHandle::FinishJob(uint64_t job_id) {
  jobs_.erase(job_id);  // destroying its cancel timer cancels it
  if (jobs_.empty() && state_ == WorkerState::kBusy) SetState(WorkerState::kIdle);
}

bool WorkerHandle::CheckJobFrame(MessageType type, uint64_t job_id) {
  const std::string what = "sent " + std::string(protocol::MessageTypeName(type));
  if (state_ != WorkerState::kBusy && state_ != WorkerState::kStopping) {
    Violation(what + " while " + std::string(WorkerStateName(state_)));
    return false;
  }
  if (job_id == 0 || !Runs(job_id)) {
    std::string running;
    for (const auto& [id, job] : jobs_) running += (running.empty() ? "" : ", ") + std::to_string(id);
    Violation(what + " for job " + std::to_string(job_id) + " while running job" +
              (jobs_.size() == 1 ? " " : "s ") + (running.empty() ? "none" : running));
    return false;
  }
  return true;
}

bool WorkerHandle::HandleJobFrame(protocol::Frame& frame) {
  switch (frame.type) {
    case MessageType::kProgress: {
      auto m = protocol::ParseProgress(frame);
      if (!m.ok()) return Violation(m.error().message), false;
      if (!CheckJobFrame(frame.type, m->job_id)) return false;
      delegate_.OnJobProgress(*this, *m);
      return true;
    }
    case MessageType::kPiece: {
      auto m = protocol::ParsePiece(frame);
      if (!m.ok()) return Violation(m.error().message), false;
      if (!CheckJobFrame(frame.type, m->job_id)) return false;
      delegate_.OnJobPiece(*this, *m);
      return true;
    }
    case MessageType::kDone: {
      auto m = protocol::ParseDone(frame);
      if (!m.ok()) return Violation(m.error().message), false;
      if (!CheckJobFrame(frame.type, m->job_id)) return false;
      if (loaded_ && m->device_memory_free > 0) loaded_->model.device_memory_free = m->device_memory_free;
      FinishJob(m->job_id);
      delegate_.OnJobDone(*this, *m);
      return true;
    }
    default: {
      auto m = protocol::ParseFailed(frame);
      if (!m.ok()) return Violation(m.error().message), false;
      if (!CheckJobFrame(frame.type, m->job_id)) return false;
      FinishJob(m->job_id);
      delegate_.OnJobFailed(*this, *m);
      return true;
    }
  }
}

}  // namespace vigil::supervisor
