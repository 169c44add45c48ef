#include "worker/heartbeat.h"

#include "protocol/messages.h"

namespace vigil::worker {

void Heartbeat::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Heartbeat::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Heartbeat::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    protocol::Heartbeat beat;
    beat.phase = PhaseName(state_.phase.load());
    beat.job_id = state_.job_id.load();
    beat.progress = state_.progress.load();
    lock.unlock();
    channel_.Send(protocol::ToFrame(beat));  // dropped silently after Close()
    lock.lock();
    // A fixed schedule, not "sleep period after sending": a slow write must
    // not stretch the interval the supervisor's deadlines assume.
    next += period_;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;
    cv_.wait_until(lock, next, [this] { return stop_; });
  }
}

}  // namespace vigil::worker
