// clock.h: the supervisor's time base.
//
// Policy classes (restart_policy.h, quarantine.h, hang_monitor.h) never read
// the clock: callers pass `now`, so tests drive them on a fake timeline.
// Event-loop code reads Clock::now() and arms asio steady timers.
#pragma once

#include <chrono>

namespace vigil::supervisor {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace vigil::supervisor
