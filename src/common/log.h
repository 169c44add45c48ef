// log.h: vigil's one logging path.
//
// Every process (vigil serve, vigil-worker, the tests) logs through Log():
// one event per line on stderr, written by spdlog (log.cc) in one format:
//   2026-11-29T01:44:12.345Z info worker_exited slot=0 incarnation=2 cause=signal ...
// The event name is a noun plus a past tense verb from the glossary
// (worker_exited, job_retried, input_quarantined); fields are a JSON object
// whose members are printed as key=value (strings quoted when they contain
// spaces or quotes). The one exception is the worker's crash handler, which
// writes its line with write(2): a signal handler may only make
// async-signal-safe calls (worker/crash_handler.cc).
//
// Command-line programs still print their answers and usage errors to
// stdout/stderr themselves ("vigil: listening on ...", "vigil serve: ...");
// that is their output, not a log.
//
// Thread-safety: Log() may be called from any thread (spdlog's sink writes
// each line whole, under a lock). SetLogLevel is meant for start-up and tests.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vigil {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

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

void SetLogLevel(LogLevel level);
// "trace" | "debug" | "info" | "warn" | "error" (trace logs as debug);
// false, and the level unchanged, for any other name.
bool SetLogLevel(std::string_view name);

// Formats one event message: "event k=v k=v". Exposed for tests.
std::string FormatLogMessage(std::string_view event, const nlohmann::json& fields);

void Log(LogLevel level, std::string_view event, const nlohmann::json& fields = nlohmann::json::object());

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
