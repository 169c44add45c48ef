// The pool's outward view: readiness reason, /v1/workers, /metrics.
#include <cstdio>

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

nlohmann::json Pool::SlotJson(const Slot& slot) const {
  const TimePoint now = Clock::now();
  nlohmann::json j = {
      {"slot", slot.index},
      {"state", SlotStateName(slot)},
      {"incarnation", slot.incarnation},
      {"spare", slot.index >= std::max(1, options_.workers)},
      {"jobs_served", slot.jobs_served},
      {"restarts", slot.restarts},
      {"pid", nullptr},
  };
  if (!slot.reason.empty()) j["reason"] = slot.reason;
  if (!slot.device.empty()) j["assigned_device"] = slot.device;
  if (slot.state == SlotState::kRestarting || slot.state == SlotState::kHeld) {
    j["restart_in_s"] = std::max(0.0, Seconds(slot.restart_at - now));
  }
  if (const auto& w = slot.worker) {
    j["pid"] = w->pid();
    j["uptime_s"] = Seconds(now - w->spawned_at());
    j["phase"] = w->phase();
    j["capacity"] = w->capacity();
    j["running_jobs"] = w->running();
    if (w->protocol_version() > 0) j["protocol"] = w->protocol_version();
    if (slot.reserved) j["reserved_for_exclusive"] = true;
    nlohmann::json jobs = nlohmann::json::array();
    for (const JobTag& t : w->RunningJobs()) {
      jobs.push_back({{"job_id", t.job_id}, {"request_id", t.request_id}, {"exclusive", t.exclusive}});
    }
    if (!jobs.empty()) j["job"] = jobs[0];  // the oldest; for readers from before batching
    j["jobs"] = std::move(jobs);
    if (const auto& loaded = w->loaded()) {
      const auto& m = loaded->model;
      j["load_ms"] = loaded->load_ms;
      j["model"] = {{"name", m.name}, {"arch", m.arch}, {"n_ctx", m.n_ctx},
                    {"n_ctx_train", m.n_ctx_train}, {"image_size", m.image_size},
                    {"n_params", m.n_params}, {"device", m.device},
                    {"device_memory_total", m.device_memory_total},
                    {"device_memory_free", m.device_memory_free},
                    {"gpu_layers", m.gpu_layers}, {"chat_template", m.chat_template}};
    }
  }
  nlohmann::json crashes = nlohmann::json::array();
  for (auto it = slot.crashes.rbegin(); it != slot.crashes.rend(); ++it) crashes.push_back(supervisor::ToJson(*it));
  j["recent_crashes"] = std::move(crashes);
  return j;
}

nlohmann::json Pool::ToJson() const {
  nlohmann::json workers = nlohmann::json::array();
  for (const auto& slot : slots_) workers.push_back(SlotJson(*slot));
  return {{"workers", std::move(workers)},
          {"restarts_by_cause", restarts_by_cause_},
          {"model", ModelName()}};
}

void Pool::AppendMetrics(std::string& out) const {
  static constexpr const char* kStates[] = {"starting", "loading", "idle", "busy", "stopping",
                                            "dead", "restarting", "held", "failed", "stopped"};
  std::map<std::string, int> counts;
  for (const auto& slot : slots_) counts[SlotStateName(*slot)]++;
  out += "# HELP vigil_workers Worker slots by state.\n# TYPE vigil_workers gauge\n";
  for (const char* s : kStates) {
    out += "vigil_workers{state=\"" + std::string(s) + "\"} " + std::to_string(counts[s]) + "\n";
  }
  out += "# HELP vigil_worker_restarts_total Unexpected worker exits, by cause.\n"
         "# TYPE vigil_worker_restarts_total counter\n";
  static constexpr const char* kCauses[] = {"signal", "exit", "oom", "hung", "protocol_error",
                                            "cancel_timeout", "fatal_config", "load_out_of_memory",
                                            "spawn_failed", "clean"};
  for (const char* c : kCauses) {
    auto it = restarts_by_cause_.find(c);
    out += "vigil_worker_restarts_total{cause=\"" + std::string(c) + "\"} " +
           std::to_string(it == restarts_by_cause_.end() ? 0 : it->second) + "\n";
  }
  AppendJobMetrics(out);
  AppendDeviceMetrics(out);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "# HELP vigil_worker_crash_detect_seconds Last time from a SIGKILL the supervisor "
                "sent to the worker's reaping.\n# TYPE vigil_worker_crash_detect_seconds gauge\n"
                "vigil_worker_crash_detect_seconds %.6f\n",
                last_kill_to_reap_ms_ < 0 ? 0.0 : last_kill_to_reap_ms_ / 1000);
  out += buf;
}

// Per live worker: how many jobs it may run at once, and runs now.
void Pool::AppendJobMetrics(std::string& out) const {
  out += "# HELP vigil_worker_capacity Jobs each live worker may run at once.\n"
         "# TYPE vigil_worker_capacity gauge\n";
  for (const auto& slot : slots_) {
    if (!slot->worker) continue;
    out += "vigil_worker_capacity{slot=\"" + std::to_string(slot->index) + "\"} " +
           std::to_string(slot->worker->capacity()) + "\n";
  }
  out += "# HELP vigil_worker_jobs_running Jobs each live worker runs now.\n"
         "# TYPE vigil_worker_jobs_running gauge\n";
  for (const auto& slot : slots_) {
    if (!slot->worker) continue;
    out += "vigil_worker_jobs_running{slot=\"" + std::to_string(slot->index) + "\"} " +
           std::to_string(slot->worker->running()) + "\n";
  }
}

// Per loaded worker: its device's total and free memory as the worker last
// reported them (at load, then after every job). Several workers on one
// device report the same device-wide numbers.
void Pool::AppendDeviceMetrics(std::string& out) const {
  out += "# HELP vigil_worker_device_memory_bytes Memory of each loaded worker's device, as the "
         "worker's engine reports it.\n# TYPE vigil_worker_device_memory_bytes gauge\n";
  for (const auto& slot : slots_) {
    if (!slot->worker || !slot->worker->loaded()) continue;
    const auto& m = slot->worker->loaded()->model;
    if (m.device_memory_total <= 0) continue;
    nlohmann::json device = m.device;  // JSON string escaping is Prometheus label escaping here
    const std::string labels = "slot=\"" + std::to_string(slot->index) + "\",device=" + device.dump();
    out += "vigil_worker_device_memory_bytes{" + labels + ",kind=\"total\"} " +
           std::to_string(m.device_memory_total) + "\n";
    out += "vigil_worker_device_memory_bytes{" + labels + ",kind=\"free\"} " +
           std::to_string(m.device_memory_free) + "\n";
  }
  out += "# HELP vigil_worker_gpu_layers Layers each loaded worker offloaded to its device.\n"
         "# TYPE vigil_worker_gpu_layers gauge\n";
  for (const auto& slot : slots_) {
    if (!slot->worker || !slot->worker->loaded()) continue;
    out += "vigil_worker_gpu_layers{slot=\"" + std::to_string(slot->index) + "\"} " +
           std::to_string(slot->worker->loaded()->model.gpu_layers) + "\n";
  }
}

}  // namespace vigil::supervisor
