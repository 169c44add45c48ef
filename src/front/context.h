// context.h: what every route handler can reach: the dispatcher, the
// options, the metrics. Owned by the Router; lives as long as the server.
// Thread-safety: none; the event-loop thread only.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "front/limits.h"
#include "front/metrics.h"
#include "supervisor/dispatcher.h"

namespace vigil::front {

struct FrontOptions {
  Limits limits;
  std::string api_key;  // empty: no authentication
  bool allow_fault_injection = false;
  // How the server was sized (workers, jobs per worker, threads, spares, and
  // what the defaults were chosen from): shown as "tuning" in /v1/workers.
  nlohmann::json tuning = nlohmann::json::object();
};

struct FrontContext {
  supervisor::Dispatcher& dispatcher;
  FrontOptions options;
  Metrics metrics;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

}  // namespace vigil::front
