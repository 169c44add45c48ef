// log.h: vigil's one-line structured log.
//
// One event per line, logfmt-style, on stderr by default:
//   2026-11-29T01:44:12.345Z info worker_exited slot=0 incarnation=2 cause=signal ...
// The event name is a noun plus a past tense verb from the glossary
// (worker_exited, job_retried, input_quarantined); fields are a JSON object
// whose members are printed as key=value (strings quoted when they contain
// spaces or quotes).
//
// A sink (SetLogSink) receives the level and the message without timestamp
// and level ("worker_exited slot=0 ..."), so a program that logs through
// spdlog can route these lines into its own logger:
//   vigil::SetLogSink([](vigil::LogLevel l, std::string_view m) { spdlog::log(..., "{}", m); });
//
// Thread-safety: Log() may be called from any thread; lines are written with
// one write() each so they do not interleave. SetLogSink/SetLogLevel are meant
// for start-up and tests and must not race with Log().
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vigil {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

inline std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

// UTC, millisecond precision: "2026-11-29T02:53:36.810Z".
inline std::string Iso8601(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  return buf;
}

namespace log_internal {
struct Config {
  LogLevel min_level = LogLevel::kInfo;
  // Receives each message ("event k=v ..."). Empty: stderr, with timestamp and level.
  std::function<void(LogLevel, std::string_view message)> sink;
};
inline Config& GetConfig() {
  static Config config;
  return config;
}

inline void AppendValue(std::string& out, const nlohmann::json& v) {
  if (!v.is_string()) {
    out += v.dump();
    return;
  }
  const auto& s = v.get_ref<const std::string&>();
  bool quote = s.empty() || s.find_first_of(" \t\"=\n") != std::string::npos;
  if (!quote) {
    out += s;
  } else {
    out += v.dump();  // JSON escaping doubles as logfmt quoting
  }
}

inline std::string Timestamp() { return Iso8601(std::chrono::system_clock::now()); }
}  // namespace log_internal

inline void SetLogLevel(LogLevel level) { log_internal::GetConfig().min_level = level; }
inline void SetLogSink(std::function<void(LogLevel, std::string_view)> sink) {
  log_internal::GetConfig().sink = std::move(sink);
}

// Formats one event message: "event k=v k=v". Exposed for tests.
inline std::string FormatLogMessage(std::string_view event, const nlohmann::json& fields) {
  std::string line(event);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      line += ' ';
      line += it.key();
      line += '=';
      log_internal::AppendValue(line, it.value());
    }
  }
  return line;
}

inline void Log(LogLevel level, std::string_view event,
                const nlohmann::json& fields = nlohmann::json::object()) {
  auto& config = log_internal::GetConfig();
  if (level < config.min_level) return;
  std::string message = FormatLogMessage(event, fields);
  if (config.sink) {
    config.sink(level, message);
    return;
  }
  std::string line = log_internal::Timestamp();
  line += ' ';
  line += LogLevelName(level);
  line += ' ';
  line += message;
  line += '\n';
  // One write(): concurrent lines stay whole (pipes and files up to PIPE_BUF
  // are atomic; longer lines may interleave, which is acceptable for logs).
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

inline void LogInfo(std::string_view event, const nlohmann::json& fields = nlohmann::json::object()) {
  Log(LogLevel::kInfo, event, fields);
}
inline void LogWarn(std::string_view event, const nlohmann::json& fields = nlohmann::json::object()) {
  Log(LogLevel::kWarn, event, fields);
}
inline void LogError(std::string_view event, const nlohmann::json& fields = nlohmann::json::object()) {
  Log(LogLevel::kError, event, fields);
}

}  // namespace vigil
