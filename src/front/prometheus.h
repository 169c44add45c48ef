// prometheus.h: the one writer of Prometheus text (exposition format 0.0.4)
// in vigil. The front's own metrics (metrics.h) and the supervisor's
// (status_render.h) are both written through it, so every family has the
// same HELP/TYPE header, label quoting and number format.
//
// Hand-written because the format is a few lines of text and the client
// libraries (prometheus-cpp) bring a registry, threads and an HTTP exposer
// that vigil's one event loop does not want.
//
// Numbers: integers as decimal; doubles with printf "%.6g" (at most six
// significant digits). Label values are escaped as the format requires
// (backslash, double quote, newline).
//
// Thread-safety: none; one writer appends to one string.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::front {

// name="value" pairs, in the order they are written.
using PrometheusLabels = std::vector<std::pair<std::string_view, std::string>>;

class PrometheusWriter {
 public:
  explicit PrometheusWriter(std::string& out) : out_(out) {}

  // "# HELP name help" and "# TYPE name type" (counter | gauge | histogram).
  void Family(std::string_view name, std::string_view help, std::string_view type);
  void Sample(std::string_view name, const PrometheusLabels& labels, int64_t value);
  void Sample(std::string_view name, const PrometheusLabels& labels, double value);
  // A family with one unlabelled integer sample.
  void Single(std::string_view name, std::string_view help, std::string_view type, int64_t value);
  // One histogram's samples: name_bucket{labels,le=...} for each bound and
  // +Inf, name_sum, name_count. counts[i]: observations <= bounds[i].
  void Histogram(std::string_view name, const PrometheusLabels& labels, std::span<const double> bounds,
                 std::span<const uint64_t> counts, uint64_t count, double sum);

  static std::string Number(double value);

 private:
  void Series(std::string_view name, const PrometheusLabels& labels);

  std::string& out_;
};

}  // namespace vigil::front
