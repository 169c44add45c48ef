#include "supervisor/hang_monitor.h"

#include <cstdio>

namespace vigil::supervisor {
namespace {

std::string FormatSeconds(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", Seconds(d));
  return buf;
}

}  // namespace

void HangMonitor::Enter(Mode mode, TimePoint now) {
  if (mode_ == Mode::kLoading && last_heartbeat_ == TimePoint{}) last_heartbeat_ = now;
  mode_ = mode;
  last_progress_ = now;
  if (mode == Mode::kIdle) phase_ = "idle";
}

void HangMonitor::OnHeartbeat(std::string_view phase, uint64_t progress, TimePoint now) {
  last_heartbeat_ = now;
  if (phase != phase_ || progress != progress_) {
    phase_ = std::string(phase);
    progress_ = progress;
    last_progress_ = now;
  }
}

Clock::duration HangMonitor::PhaseLimit() const {
  if (mode_ == Mode::kLoading) return limits_.load;
  if (phase_ == "image_decode" || phase_ == "image_encode") return limits_.image_encode;
  if (phase_ == "decode") return limits_.decode;
  return limits_.prefill;
}

TimePoint HangMonitor::NextDeadline() const {
  TimePoint deadline = last_heartbeat_ + limits_.heartbeat;
  if (mode_ != Mode::kIdle) deadline = std::min(deadline, last_progress_ + PhaseLimit());
  return deadline;
}

std::optional<std::string> HangMonitor::Check(TimePoint now) const {
  if (now - last_heartbeat_ >= limits_.heartbeat) {
    return "no heartbeat for " + FormatSeconds(now - last_heartbeat_) + " in phase " + phase_;
  }
  if (mode_ != Mode::kIdle && now - last_progress_ >= PhaseLimit()) {
    return "no progress in phase " + (mode_ == Mode::kLoading ? std::string("load") : phase_) +
           " for " + FormatSeconds(now - last_progress_);
  }
  return std::nullopt;
}

}  // namespace vigil::supervisor
