#include "supervisor/restart_policy.h"

#include <algorithm>

namespace vigil::supervisor {
namespace {

// min * 2^doublings, capped at max, without overflow.
Clock::duration Backoff(Clock::duration min, Clock::duration max, int doublings) {
  Clock::duration delay = min;
  for (int i = 0; i < doublings && delay < max; ++i) delay *= 2;
  return std::min(delay, max);
}

}  // namespace

RestartPolicy::RestartPolicy(RestartLimits limits) : limits_(limits) {
  limits_.load_failures_before_hold = std::max(1, limits_.load_failures_before_hold);
  limits_.load_backoff_max = std::max(limits_.load_backoff_min, limits_.load_backoff_max);
  limits_.service_backoff_min = std::max(limits_.service_backoff_min, Clock::duration(1));
  limits_.service_backoff_max = std::max(limits_.service_backoff_min, limits_.service_backoff_max);
}

RestartPolicy::Decision RestartPolicy::OnExit(TimePoint now, Death death) {
  Decision d;
  if (death == Death::kInService) {
    // At once the first time: a lone crash costs nothing but a load.
    const int n = ++service_exits_;
    d.at = n == 1 ? now + limits_.service_first_delay : now + Backoff(limits_.service_backoff_min, limits_.service_backoff_max, n - 2);
    return d;
  }
  d.load_failures = ++load_failures_;
  if (d.load_failures >= limits_.load_failures_before_hold) {
    d.hold = true;
    d.at = now + limits_.hold;
    return d;
  }
  d.at = now + Backoff(limits_.load_backoff_min, limits_.load_backoff_max, d.load_failures - 1);
  return d;
}

}  // namespace vigil::supervisor
