// The pool's outward view: readiness and its reason, the pool's part of the
// supervisor's snapshot (rendered by the front: front/status_render.h).
#include <algorithm>

#include "supervisor/pool.h"

namespace vigil::supervisor {

std::string Pool::SlotStateName(const Slot& slot) const {
  switch (slot.state) {
    case SlotState::kRunning:
      return slot.worker ? std::string(WorkerStateName(slot.worker->state())) : "dead";
    case SlotState::kRestarting: return "restarting";
    case SlotState::kHeld: return "held";
    case SlotState::kFailed: return "failed";
    case SlotState::kStopped: return "stopped";
  }
  return "dead";
}

bool Pool::AnyLoaded() const {
  for (const auto& slot : slots_) {
    if (!slot->worker || slot->worker->killing()) continue;
    auto s = slot->worker->state();
    if (s == WorkerState::kIdle || s == WorkerState::kBusy) return true;
  }
  return false;
}

bool Pool::AnyCanServeSoon() const {
  for (const auto& slot : slots_) {
    if (slot->state == SlotState::kRunning || slot->state == SlotState::kRestarting) return true;
  }
  return false;
}

std::string Pool::ModelName() const {
  if (!model_name_.empty()) return model_name_;
  return options_.model_name;
}

// "no worker loaded: 1 loading; slot 1 held: 6 restarts within 60 s ...".
std::string Pool::NotReadyReason() const {
  std::map<std::string, int> counts;
  std::string details;
  for (const auto& slot : slots_) {
    const std::string name = SlotStateName(*slot);
    counts[name]++;
    if (slot->state == SlotState::kHeld || slot->state == SlotState::kFailed) {
      details += "; slot " + std::to_string(slot->index) + " " + name + ": " + slot->reason;
    }
  }
  std::string reason = "no worker loaded (";
  bool first = true;
  for (const auto& [name, n] : counts) {
    reason += (first ? "" : ", ") + std::to_string(n) + " " + name;
    first = false;
  }
  return reason + ")" + details;
}

Error Pool::NotReadyError() const {
  std::optional<ErrorCode> shared;
  for (const auto& slot : slots_) {
    const bool down = slot->state == SlotState::kFailed || slot->state == SlotState::kHeld;
    if (!down || (shared && *shared != slot->failure)) {
      shared = ErrorCode::kNotReady;
      break;
    }
    shared = slot->failure;
  }
  return Error{shared.value_or(ErrorCode::kNotReady), NotReadyReason()};
}

SlotSnapshot Pool::SnapshotOf(const Slot& slot) const {
  const TimePoint now = Clock::now();
  SlotSnapshot s;
  s.slot = slot.index;
  s.state = SlotStateName(slot);
  s.incarnation = slot.incarnation;
  s.spare = slot.index >= std::max(1, options_.workers);
  s.jobs_served = slot.jobs_served;
  s.restarts = slot.restarts;
  s.reason = slot.reason;
  s.device = slot.device;
  if (slot.state == SlotState::kRestarting || slot.state == SlotState::kHeld) {
    s.restart_in_s = std::max(0.0, Seconds(slot.restart_at - now));
  }
  s.reserved = slot.reserved;
  if (const auto& w = slot.worker) {
    WorkerSnapshot& ws = s.worker.emplace();
    ws.pid = w->pid();
    ws.command = w->command();
    ws.uptime_s = Seconds(now - w->spawned_at());
    ws.phase = w->phase();
    ws.capacity = w->capacity();
    ws.running_jobs = w->running();
    ws.protocol = w->protocol_version();
    ws.jobs = w->RunningJobs();
    ws.loaded = w->loaded();
  }
  s.recent_crashes.assign(slot.crashes.rbegin(), slot.crashes.rend());
  return s;
}

void Pool::FillSnapshot(SupervisorSnapshot& snapshot) const {
  snapshot.model = ModelName();
  for (const auto& slot : slots_) snapshot.slots.push_back(SnapshotOf(*slot));
  snapshot.restarts_by_cause = restarts_by_cause_;
  snapshot.last_kill_to_reap_ms = last_kill_to_reap_ms_;
}

}  // namespace vigil::supervisor
