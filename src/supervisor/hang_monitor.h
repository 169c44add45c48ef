// hang_monitor.h: decides from heartbeats whether a worker is hung.
//
// The worker stamps a heartbeat every ~100 ms with its phase and a progress
// counter that advances only when the engine really advances (Chromium's
// HangWatcher, Envoy's GuardDog). Two rules:
// - no heartbeat at all for `limits.heartbeat`: hung in any mode (a
//   SIGSTOPped or wedged process sends nothing);
// - while the worker is loading or busy, (phase, progress) unchanged for the
//   current phase's limit: hung (the heartbeat thread lives, the engine does
//   not). Phases: load -> limits.load; image_decode, image_encode ->
//   limits.image_encode; prefill, and a busy worker still reporting idle ->
//   limits.prefill; decode -> limits.decode.
// Entering a mode restarts the progress clock.
//
// The owner arms one timer at NextDeadline() and calls Check() when it
// fires; nothing polls. Thread-safety: none. Time comes from the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "supervisor/clock.h"
#include "supervisor/supervisor.h"

namespace vigil::supervisor {

class HangMonitor {
 public:
  enum class Mode { kLoading, kIdle, kBusy };

  explicit HangMonitor(HangLimits limits) : limits_(limits) {}

  void Enter(Mode mode, TimePoint now);
  void OnHeartbeat(std::string_view phase, uint64_t progress, TimePoint now);

  // The earliest instant at which Check() could report a hang.
  TimePoint NextDeadline() const;
  // A sentence naming the hang if the worker is hung at `now`, else nullopt.
  std::optional<std::string> Check(TimePoint now) const;

  const std::string& phase() const { return phase_; }

 private:
  Clock::duration PhaseLimit() const;

  HangLimits limits_;
  Mode mode_ = Mode::kLoading;
  std::string phase_ = "load";
  uint64_t progress_ = 0;
  TimePoint last_heartbeat_{};
  TimePoint last_progress_{};
};

}  // namespace vigil::supervisor
