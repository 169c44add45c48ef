#include "front/status_render.h"

#include <algorithm>

#include "common/log.h"

namespace vigil::front {

using nlohmann::json;
using supervisor::SlotSnapshot;
using supervisor::SupervisorSnapshot;

namespace {

json JobJson(const supervisor::JobTag& t) {
  return {{"job_id", t.job_id}, {"request_id", t.request_id}, {"exclusive", t.exclusive}};
}

void AddWorker(json& j, const SlotSnapshot& slot) {
  const supervisor::WorkerSnapshot& w = *slot.worker;
  j["pid"] = w.pid;
  j["command"] = w.command;
  j["uptime_s"] = w.uptime_s;
  j["phase"] = w.phase;
  j["capacity"] = w.capacity;
  j["running_jobs"] = w.running_jobs;
  if (w.protocol > 0) j["protocol"] = w.protocol;
  if (slot.reserved) j["reserved_for_exclusive"] = true;
  json jobs = json::array();
  for (const auto& t : w.jobs) jobs.push_back(JobJson(t));
  if (!jobs.empty()) j["job"] = jobs[0];  // the oldest; for readers from before batching
  j["jobs"] = std::move(jobs);
  if (w.loaded) {
    j["load_ms"] = w.loaded->load_ms;
    j["model"] = ModelJson(w.loaded->model);
  }
}

json SlotJson(const SlotSnapshot& slot) {
  json j = {
      {"slot", slot.slot},
      {"state", slot.state},
      {"incarnation", slot.incarnation},
      {"spare", slot.spare},
      {"jobs_served", slot.jobs_served},
      {"restarts", slot.restarts},
      {"pid", nullptr},
  };
  if (!slot.reason.empty()) j["reason"] = slot.reason;
  if (!slot.device.empty()) j["assigned_device"] = slot.device;
  if (slot.restart_in_s) j["restart_in_s"] = *slot.restart_in_s;
  if (slot.worker) AddWorker(j, slot);
  json crashes = json::array();
  for (const auto& c : slot.recent_crashes) crashes.push_back(CrashJson(c));
  j["recent_crashes"] = std::move(crashes);
  return j;
}

void WriteWorkerMetrics(PrometheusWriter& w, const SupervisorSnapshot& s) {
  std::map<std::string, int64_t> states;
  for (const auto& slot : s.slots) states[slot.state]++;
  w.Family("vigil_workers", "Worker slots by state.", "gauge");
  for (std::string_view state : supervisor::kSlotStateNames) {
    auto it = states.find(std::string(state));
    w.Sample("vigil_workers", {{"state", std::string(state)}}, it == states.end() ? 0 : it->second);
  }
  w.Family("vigil_worker_restarts_total", "Unexpected worker exits, by cause.", "counter");
  for (std::string_view cause : supervisor::kRestartCauseNames) {
    auto it = s.restarts_by_cause.find(std::string(cause));
    w.Sample("vigil_worker_restarts_total", {{"cause", std::string(cause)}},
             it == s.restarts_by_cause.end() ? int64_t{0} : it->second);
  }
}

// Per live worker: how many jobs it may run at once, and runs now.
void WriteJobMetrics(PrometheusWriter& w, const SupervisorSnapshot& s) {
  w.Family("vigil_worker_capacity", "Jobs each live worker may run at once.", "gauge");
  for (const auto& slot : s.slots) {
    if (slot.worker) w.Sample("vigil_worker_capacity", {{"slot", std::to_string(slot.slot)}}, int64_t{slot.worker->capacity});
  }
  w.Family("vigil_worker_jobs_running", "Jobs each live worker runs now.", "gauge");
  for (const auto& slot : s.slots) {
    if (slot.worker) {
      w.Sample("vigil_worker_jobs_running", {{"slot", std::to_string(slot.slot)}}, int64_t{slot.worker->running_jobs});
    }
  }
}

// Per loaded worker: its device's total and free memory as the worker last
// reported them (at load, then after every job). Several workers on one
// device report the same device-wide numbers.
void WriteDeviceMetrics(PrometheusWriter& w, const SupervisorSnapshot& s) {
  w.Family("vigil_worker_device_memory_bytes",
           "Memory of each loaded worker's device, as the worker's engine reports it.", "gauge");
  for (const auto& slot : s.slots) {
    if (!slot.worker || !slot.worker->loaded) continue;
    const auto& m = slot.worker->loaded->model;
    if (m.device_memory_total <= 0) continue;
    const std::string index = std::to_string(slot.slot);
    w.Sample("vigil_worker_device_memory_bytes", {{"slot", index}, {"device", m.device}, {"kind", "total"}},
             m.device_memory_total);
    w.Sample("vigil_worker_device_memory_bytes", {{"slot", index}, {"device", m.device}, {"kind", "free"}},
             m.device_memory_free);
  }
  w.Family("vigil_worker_gpu_layers", "Layers each loaded worker offloaded to its device.", "gauge");
  for (const auto& slot : s.slots) {
    if (!slot.worker || !slot.worker->loaded) continue;
    w.Sample("vigil_worker_gpu_layers", {{"slot", std::to_string(slot.slot)}}, slot.worker->loaded->model.gpu_layers);
  }
}

}  // namespace

json ModelJson(const protocol::ModelFacts& m) {
  return {{"name", m.name}, {"arch", m.arch}, {"n_ctx", m.n_ctx},
          {"n_ctx_train", m.n_ctx_train}, {"image_size", m.image_size},
          {"n_params", m.n_params}, {"device", m.device},
          {"device_memory_total", m.device_memory_total},
          {"device_memory_free", m.device_memory_free},
          {"gpu_layers", m.gpu_layers}, {"chat_template", m.chat_template}};
}

json CrashJson(const supervisor::CrashReport& r) {
  json j = {
      {"cause", r.cause},
      {"detail", r.detail},
      {"state", r.state},
      {"phase", r.phase},
      {"slot", r.slot},
      {"incarnation", r.incarnation},
      {"pid", r.pid},
      {"uptime_s", r.uptime_s},
      {"time", Iso8601(r.time)},
      {"stderr_tail", r.stderr_tail},
  };
  j["signal"] = r.signal != 0 ? json(r.signal) : json(nullptr);
  j["signal_name"] = r.signal != 0 ? json(r.signal_name) : json(nullptr);
  j["exit_code"] = r.exit_code >= 0 ? json(r.exit_code) : json(nullptr);
  if (r.job_id != 0) {
    j["job_id"] = r.job_id;
    j["request_id"] = r.request_id;
    j["fingerprint"] = r.fingerprint;
  }
  json jobs = json::array();
  for (const auto& t : r.jobs) {
    jobs.push_back({{"job_id", t.job_id}, {"request_id", t.request_id},
                    {"fingerprint", t.fingerprint}, {"exclusive", t.exclusive}});
  }
  j["jobs"] = std::move(jobs);
  if (r.kill_to_reap_ms >= 0) j["kill_to_reap_ms"] = r.kill_to_reap_ms;
  return j;
}

json WorkersJson(const SupervisorSnapshot& s) {
  json workers = json::array();
  for (const auto& slot : s.slots) workers.push_back(SlotJson(slot));
  json j = {{"workers", std::move(workers)}, {"restarts_by_cause", s.restarts_by_cause}, {"model", s.model}};
  j["ready"] = s.readiness.ready;
  if (!s.readiness.ready) j["reason"] = s.readiness.reason;
  j["draining"] = s.draining;
  j["queue_depth"] = s.queue_depth;
  j["jobs_running"] = s.jobs_running;
  j["job_retries"] = s.job_retries;
  j["inputs_quarantined"] = s.inputs_quarantined;
  return j;
}

void WriteSupervisorMetrics(PrometheusWriter& w, const SupervisorSnapshot& s) {
  w.Single("vigil_queue_depth", "Jobs waiting for a worker.", "gauge", s.queue_depth);
  w.Single("vigil_job_retries_total", "Jobs retried on another worker after a worker died.", "counter",
           s.job_retries);
  w.Single("vigil_inputs_quarantined_total", "Inputs put into quarantine.", "counter", s.inputs_quarantined_total);
  w.Single("vigil_inputs_quarantined", "Inputs in quarantine now.", "gauge", s.inputs_quarantined);
  w.Family("vigil_jobs_total", "Jobs ended, by outcome.", "counter");
  for (const auto& [outcome, n] : s.jobs_by_outcome) w.Sample("vigil_jobs_total", {{"outcome", outcome}}, n);
  WriteWorkerMetrics(w, s);
  WriteJobMetrics(w, s);
  WriteDeviceMetrics(w, s);
  w.Family("vigil_worker_crash_detect_seconds",
           "Last time from a SIGKILL the supervisor sent to the worker's reaping.", "gauge");
  w.Sample("vigil_worker_crash_detect_seconds", {},
           s.last_kill_to_reap_ms < 0 ? 0.0 : s.last_kill_to_reap_ms / 1000);
}

}  // namespace vigil::front
