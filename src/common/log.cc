#include "common/log.h"

#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace vigil {
namespace {

spdlog::logger& Logger() {
  // Colours only when stderr is a terminal (the sink checks once, here).
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("vigil", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    l->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v",
                                                                 spdlog::pattern_time_type::utc));
    l->set_level(spdlog::level::info);
    return l;
  }();
  return *logger;
}

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

void AppendValue(std::string& out, const nlohmann::json& v) {
  if (!v.is_string()) {
    out += v.dump();
    return;
  }
  const auto& s = v.get_ref<const std::string&>();
  const bool quote = s.empty() || s.find_first_of(" \t\"=\n") != std::string::npos;
  if (quote) {
    out += v.dump();  // JSON escaping doubles as logfmt quoting
  } else {
    out += s;
  }
}

}  // namespace

void SetLogLevel(LogLevel level) { Logger().set_level(ToSpdlog(level)); }

bool SetLogLevel(std::string_view name) {
  static constexpr std::pair<std::string_view, LogLevel> kNames[] = {
      {"trace", LogLevel::kDebug}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}};
  for (const auto& [n, level] : kNames) {
    if (n == name) {
      SetLogLevel(level);
      return true;
    }
  }
  return false;
}

std::string FormatLogMessage(std::string_view event, const nlohmann::json& fields) {
  std::string line(event);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      line += ' ';
      line += it.key();
      line += '=';
      AppendValue(line, it.value());
    }
  }
  return line;
}

void Log(LogLevel level, std::string_view event, const nlohmann::json& fields) {
  spdlog::logger& logger = Logger();
  const auto l = ToSpdlog(level);
  if (!logger.should_log(l)) return;
  logger.log(l, "{}", FormatLogMessage(event, fields));
}

}  // namespace vigil
