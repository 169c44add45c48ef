#include "front/prometheus.h"

#include <cstdio>

namespace vigil::front {

std::string PrometheusWriter::Number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  return buf;
}

void PrometheusWriter::Family(std::string_view name, std::string_view help, std::string_view type) {
  out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void PrometheusWriter::Series(std::string_view name, const PrometheusLabels& labels) {
  out_.append(name);
  if (labels.empty()) return;
  out_ += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_.append(key).append("=\"");
    for (char c : value) {
      if (c == '\\') out_ += "\\\\";
      else if (c == '"') out_ += "\\\"";
      else if (c == '\n') out_ += "\\n";
      else out_ += c;
    }
    out_ += '"';
  }
  out_ += '}';
}

void PrometheusWriter::Sample(std::string_view name, const PrometheusLabels& labels, int64_t value) {
  Series(name, labels);
  out_.append(" ").append(std::to_string(value)).append("\n");
}

void PrometheusWriter::Sample(std::string_view name, const PrometheusLabels& labels, double value) {
  Series(name, labels);
  out_.append(" ").append(Number(value)).append("\n");
}

void PrometheusWriter::Single(std::string_view name, std::string_view help, std::string_view type,
                              int64_t value) {
  Family(name, help, type);
  Sample(name, {}, value);
}

void PrometheusWriter::Histogram(std::string_view name, const PrometheusLabels& labels,
                                 std::span<const double> bounds, std::span<const uint64_t> counts,
                                 uint64_t count, double sum) {
  const std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i < bounds.size() && i < counts.size(); ++i) {
    PrometheusLabels with_le = labels;
    with_le.emplace_back("le", Number(bounds[i]));
    Sample(bucket, with_le, static_cast<int64_t>(counts[i]));
  }
  PrometheusLabels inf = labels;
  inf.emplace_back("le", "+Inf");
  Sample(bucket, inf, static_cast<int64_t>(count));
  Sample(std::string(name) + "_sum", labels, sum);
  Sample(std::string(name) + "_count", labels, static_cast<int64_t>(count));
}

}  // namespace vigil::front
