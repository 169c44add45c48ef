// status_render.h: the one place that turns the supervisor's snapshot
// (supervisor/snapshot.h) into what clients read: the /v1/workers JSON body
// and the supervisor's families in /metrics.
//
//   vigil_queue_depth, vigil_job_retries_total, vigil_inputs_quarantined_total,
//   vigil_inputs_quarantined, vigil_jobs_total{outcome}, vigil_workers{state},
//   vigil_worker_restarts_total{cause}, vigil_worker_capacity{slot},
//   vigil_worker_jobs_running{slot}, vigil_worker_device_memory_bytes{slot,device,kind},
//   vigil_worker_gpu_layers{slot}, vigil_worker_crash_detect_seconds
//
// Thread-safety: pure functions of the snapshot.
#pragma once

#include <nlohmann/json.hpp>

#include "front/prometheus.h"
#include "supervisor/snapshot.h"

namespace vigil::front {

// {"workers": [...], "restarts_by_cause", "model", "ready", "reason" (when not
// ready), "draining", "queue_depth", "jobs_running", "job_retries",
// "inputs_quarantined"}. The route adds "tuning".
nlohmann::json WorkersJson(const supervisor::SupervisorSnapshot& snapshot);
// One crash report as /v1/workers shows it in "recent_crashes".
nlohmann::json CrashJson(const supervisor::CrashReport& report);
// A loaded worker's model facts as /v1/workers shows them in "model".
nlohmann::json ModelJson(const protocol::ModelFacts& model);
void WriteSupervisorMetrics(PrometheusWriter& writer, const supervisor::SupervisorSnapshot& snapshot);

}  // namespace vigil::front
