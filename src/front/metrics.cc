#include "front/metrics.h"

namespace vigil::front {
namespace {

PrometheusLabels RouteLabel(const std::string& route) { return {{"route", route}}; }

}  // namespace

void Histogram::Observe(double v) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (v <= kBuckets[i]) ++counts_[i];
  }
  ++count_;
  sum_ += v;
}

void Histogram::Render(PrometheusWriter& writer, std::string_view name, const PrometheusLabels& labels) const {
  writer.Histogram(name, labels, kBuckets, counts_, count_, sum_);
}

void Metrics::Record(const Outcome& o) {
  ++requests_[{o.route, o.status}];
  duration_[o.route].Observe(o.seconds);
  if (o.ttft_seconds) ttft_[o.route].Observe(*o.ttft_seconds);
  if (o.completion_tokens > 0) tokens_[o.route] += uint64_t(o.completion_tokens);
  if (o.client_gone) ++disconnects_[o.route];
}

void Metrics::Render(PrometheusWriter& w) const {
  w.Family("vigil_requests_total", "HTTP requests by route and status.", "counter");
  for (const auto& [key, n] : requests_) {
    w.Sample("vigil_requests_total", {{"route", key.first}, {"status", std::to_string(key.second)}}, int64_t(n));
  }
  w.Family("vigil_request_duration_seconds", "Time from request start to the end of the response.", "histogram");
  for (const auto& [route, h] : duration_) h.Render(w, "vigil_request_duration_seconds", RouteLabel(route));
  w.Family("vigil_time_to_first_token_seconds", "Time from request start to the first text piece.", "histogram");
  for (const auto& [route, h] : ttft_) h.Render(w, "vigil_time_to_first_token_seconds", RouteLabel(route));
  w.Family("vigil_completion_tokens_total", "Generated tokens.", "counter");
  for (const auto& [route, n] : tokens_) w.Sample("vigil_completion_tokens_total", RouteLabel(route), int64_t(n));
  w.Family("vigil_client_disconnects_total", "Requests whose client left before the response ended.", "counter");
  for (const auto& [route, n] : disconnects_) w.Sample("vigil_client_disconnects_total", RouteLabel(route), int64_t(n));
  w.Single("vigil_http_connections", "Open HTTP connections.", "gauge", connections_);
  w.Single("vigil_http_connections_rejected_total", "Connections refused over the cap.", "counter", int64_t(rejected_));
}

}  // namespace vigil::front
