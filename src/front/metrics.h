// metrics.h: the front's Prometheus metrics (text exposition format 0.0.4).
//
//   vigil_requests_total{route,status}            counter
//   vigil_request_duration_seconds{route}         histogram
//   vigil_time_to_first_token_seconds{route}      histogram
//   vigil_completion_tokens_total{route}          counter
//   vigil_http_connections                        gauge (open connections)
//   vigil_http_connections_rejected_total         counter (over the cap)
//   vigil_client_disconnects_total{route}         counter
// The supervisor's own (queue, workers, restarts, retries, quarantine) are
// rendered from its snapshot by status_render.h; both go through the one
// Prometheus writer (prometheus.h).
//
// Thread-safety: none; used on the event-loop thread only.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "front/exchange.h"
#include "front/prometheus.h"

namespace vigil::front {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                       1,     2.5,  5,     10,   30,  60,   120};
  void Observe(double v);
  void Render(PrometheusWriter& writer, std::string_view name, const PrometheusLabels& labels) const;

 private:
  std::array<uint64_t, kBuckets.size()> counts_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  void Record(const Outcome& outcome);
  void ConnectionOpened() { ++connections_; }
  void ConnectionClosed() { --connections_; }
  void ConnectionRejected() { ++rejected_; }
  int64_t open_connections() const { return connections_; }
  void Render(PrometheusWriter& writer) const;

 private:
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> duration_;
  std::map<std::string, Histogram> ttft_;
  std::map<std::string, uint64_t> tokens_;
  std::map<std::string, uint64_t> disconnects_;
  int64_t connections_ = 0;
  uint64_t rejected_ = 0;
};

}  // namespace vigil::front
