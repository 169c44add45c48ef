// events.h: where supervisor events go.
//
// Every event (worker_spawned, worker_loaded, worker_exited, worker_hung,
// job_retried, input_quarantined, ...) is one log line (common/log.h) and,
// when SupervisorOptions::event_listener is set, one listener call.
//
// Thread-safety: event-loop thread.
#pragma once

#include <functional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace vigil::supervisor {

using EventSink =
    std::function<void(LogLevel level, std::string_view event, const nlohmann::json& fields)>;

// Logs the event and forwards it to `listener` (may be empty).
inline EventSink MakeEventSink(
    std::function<void(std::string_view, const nlohmann::json&)> listener) {
  return [listener = std::move(listener)](LogLevel level, std::string_view event,
                                          const nlohmann::json& fields) {
    Log(level, event, fields);
    if (listener) listener(event, fields);
  };
}

}  // namespace vigil::supervisor
