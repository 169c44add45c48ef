#include "front/metrics.h"

#include <cstdio>

namespace vigil::front {
namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string RouteLabel(const std::string& route) { return "route=\"" + route + "\""; }

}  // namespace

void Histogram::Observe(double v) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (v <= kBuckets[i]) ++counts_[i];
  }
  ++count_;
  sum_ += v;
}

void Histogram::Render(std::string& out, const std::string& name, const std::string& labels) const {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    out += name + "_bucket{" + labels + ",le=\"" + Num(kBuckets[i]) + "\"} " + std::to_string(counts_[i]) + "\n";
  }
  out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum{" + labels + "} " + Num(sum_) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

void Metrics::Record(const Outcome& o) {
  ++requests_[{o.route, o.status}];
  duration_[o.route].Observe(o.seconds);
  if (o.ttft_seconds) ttft_[o.route].Observe(*o.ttft_seconds);
  if (o.completion_tokens > 0) tokens_[o.route] += uint64_t(o.completion_tokens);
  if (o.client_gone) ++disconnects_[o.route];
}

void Metrics::Render(std::string& out) const {
  out += "# HELP vigil_requests_total HTTP requests by route and status.\n# TYPE vigil_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "vigil_requests_total{" + RouteLabel(key.first) + ",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  }
  out += "# HELP vigil_request_duration_seconds Time from request start to the end of the response.\n"
         "# TYPE vigil_request_duration_seconds histogram\n";
  for (const auto& [route, h] : duration_) h.Render(out, "vigil_request_duration_seconds", RouteLabel(route));
  out += "# HELP vigil_time_to_first_token_seconds Time from request start to the first text piece.\n"
         "# TYPE vigil_time_to_first_token_seconds histogram\n";
  for (const auto& [route, h] : ttft_) h.Render(out, "vigil_time_to_first_token_seconds", RouteLabel(route));
  out += "# HELP vigil_completion_tokens_total Generated tokens.\n# TYPE vigil_completion_tokens_total counter\n";
  for (const auto& [route, n] : tokens_) {
    out += "vigil_completion_tokens_total{" + RouteLabel(route) + "} " + std::to_string(n) + "\n";
  }
  out += "# HELP vigil_client_disconnects_total Requests whose client left before the response ended.\n"
         "# TYPE vigil_client_disconnects_total counter\n";
  for (const auto& [route, n] : disconnects_) {
    out += "vigil_client_disconnects_total{" + RouteLabel(route) + "} " + std::to_string(n) + "\n";
  }
  out += "# HELP vigil_http_connections Open HTTP connections.\n# TYPE vigil_http_connections gauge\n";
  out += "vigil_http_connections " + std::to_string(connections_) + "\n";
  out += "# HELP vigil_http_connections_rejected_total Connections refused over the cap.\n"
         "# TYPE vigil_http_connections_rejected_total counter\n";
  out += "vigil_http_connections_rejected_total " + std::to_string(rejected_) + "\n";
}

}  // namespace vigil::front
