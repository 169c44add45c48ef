// The one Prometheus writer and the rendering of the supervisor's snapshot:
// the exact lines /metrics shows and the /v1/workers fields, from a
// snapshot built by hand (the fault tests check them on a live supervisor).
#include <gtest/gtest.h>

#include "front/metrics.h"
#include "front/status_render.h"

namespace vigil::front {
namespace {

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

supervisor::SupervisorSnapshot OneLoadedWorker() {
  supervisor::SupervisorSnapshot s;
  s.model = "tiny";
  s.readiness = {true, ""};
  s.queue_depth = 3;
  s.jobs_by_outcome = {{"ok", 5}, {"timeout", 1}};
  s.restarts_by_cause = {{"signal", 2}};
  s.last_kill_to_reap_ms = 12.5;
  supervisor::SlotSnapshot& slot = s.slots.emplace_back();
  slot.slot = 0;
  slot.state = "busy";
  slot.incarnation = 2;
  supervisor::WorkerSnapshot& w = slot.worker.emplace();
  w.pid = 42;
  w.capacity = 4;
  w.running_jobs = 1;
  w.protocol = 2;
  w.jobs = {{7, "req-7", "fp", false}};
  protocol::Loaded loaded;
  loaded.model.name = "tiny";
  loaded.model.device = "Vulkan0: \"GPU\"";
  loaded.model.device_memory_total = 1000;
  loaded.model.device_memory_free = 600;
  loaded.model.gpu_layers = 9;
  w.loaded = loaded;
  supervisor::CrashReport crash;
  crash.cause = "signal";
  crash.signal = 11;
  crash.signal_name = "SIGSEGV";
  slot.recent_crashes.push_back(crash);
  s.slots.push_back({.slot = 1, .state = "restarting", .restart_in_s = 0.5});
  return s;
}

TEST(PrometheusWriter, FamiliesLabelsAndNumbers) {
  std::string out;
  PrometheusWriter w(out);
  w.Family("x_total", "Things.", "counter");
  w.Sample("x_total", {{"a", "q\"uo\\te\nnl"}, {"b", "2"}}, int64_t{7});
  w.Sample("y", {}, 0.25);
  EXPECT_EQ(out, "# HELP x_total Things.\n# TYPE x_total counter\n"
                 "x_total{a=\"q\\\"uo\\\\te\\nnl\",b=\"2\"} 7\ny 0.25\n");
}

TEST(PrometheusWriter, HistogramBucketsAreCumulativeWithInf) {
  Histogram h;
  h.Observe(0.003);
  h.Observe(0.2);
  std::string out;
  PrometheusWriter w(out);
  h.Render(w, "d_seconds", {{"route", "/r"}});
  EXPECT_TRUE(Has(out, "d_seconds_bucket{route=\"/r\",le=\"0.005\"} 1"));
  EXPECT_TRUE(Has(out, "d_seconds_bucket{route=\"/r\",le=\"0.25\"} 2"));
  EXPECT_TRUE(Has(out, "d_seconds_bucket{route=\"/r\",le=\"+Inf\"} 2"));
  EXPECT_TRUE(Has(out, "d_seconds_sum{route=\"/r\"} 0.203"));
  EXPECT_TRUE(Has(out, "d_seconds_count{route=\"/r\"} 2"));
}

TEST(StatusRender, SupervisorMetricsFromASnapshot) {
  std::string out;
  PrometheusWriter w(out);
  WriteSupervisorMetrics(w, OneLoadedWorker());
  EXPECT_TRUE(Has(out, "vigil_queue_depth 3"));
  EXPECT_TRUE(Has(out, "vigil_jobs_total{outcome=\"ok\"} 5"));
  EXPECT_TRUE(Has(out, "vigil_workers{state=\"busy\"} 1"));
  EXPECT_TRUE(Has(out, "vigil_workers{state=\"restarting\"} 1"));
  EXPECT_TRUE(Has(out, "vigil_workers{state=\"idle\"} 0"));  // every state, 0 included
  EXPECT_TRUE(Has(out, "vigil_worker_restarts_total{cause=\"signal\"} 2"));
  EXPECT_TRUE(Has(out, "vigil_worker_restarts_total{cause=\"clean\"} 0"));
  EXPECT_TRUE(Has(out, "vigil_worker_capacity{slot=\"0\"} 4"));
  EXPECT_TRUE(Has(out, "vigil_worker_jobs_running{slot=\"0\"} 1"));
  EXPECT_TRUE(Has(out, "vigil_worker_device_memory_bytes{slot=\"0\",device=\"Vulkan0: \\\"GPU\\\"\",kind=\"free\"} 600"));
  EXPECT_TRUE(Has(out, "vigil_worker_gpu_layers{slot=\"0\"} 9"));
  EXPECT_TRUE(Has(out, "vigil_worker_crash_detect_seconds 0.0125"));
  EXPECT_EQ(out.find("vigil_worker_capacity{slot=\"1\"}"), std::string::npos);  // no live worker
}

TEST(StatusRender, WorkersJsonFromASnapshot) {
  const nlohmann::json j = WorkersJson(OneLoadedWorker());
  EXPECT_EQ(j["model"], "tiny");
  EXPECT_EQ(j["ready"], true);
  EXPECT_FALSE(j.contains("reason"));
  EXPECT_EQ(j["queue_depth"], 3);
  EXPECT_EQ(j["restarts_by_cause"]["signal"], 2);
  const auto& w = j["workers"][0];
  EXPECT_EQ(w["pid"], 42);
  EXPECT_EQ(w["state"], "busy");
  EXPECT_EQ(w["job"]["request_id"], "req-7");
  EXPECT_EQ(w["model"]["gpu_layers"], 9);
  EXPECT_EQ(w["recent_crashes"][0]["signal_name"], "SIGSEGV");
  EXPECT_EQ(w["recent_crashes"][0]["exit_code"], nullptr);
  const auto& restarting = j["workers"][1];
  EXPECT_EQ(restarting["pid"], nullptr);
  EXPECT_EQ(restarting["restart_in_s"], 0.5);
  EXPECT_FALSE(restarting.contains("jobs"));
}

}  // namespace
}  // namespace vigil::front
