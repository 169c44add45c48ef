#include "supervisor/restart_policy.h"

#include <algorithm>

namespace vigil::supervisor {

RestartPolicy::RestartPolicy(int intensity, Clock::duration period, Clock::duration backoff_min,
                             Clock::duration backoff_max)
    : intensity_(std::max(0, intensity)),
      period_(period),
      backoff_min_(backoff_min),
      backoff_max_(std::max(backoff_min, backoff_max)) {}

RestartPolicy::Decision RestartPolicy::OnExit(TimePoint now, bool counts_toward_intensity) {
  while (!restarts_.empty() && now - restarts_.front() >= period_) restarts_.pop_front();
  if (counts_toward_intensity) restarts_.push_back(now);
  Decision d;
  d.restarts_in_period = static_cast<int>(restarts_.size());
  if (d.restarts_in_period > intensity_) {
    d.hold = true;
    d.at = now + period_;
    return d;
  }
  // backoff_min * 2^(n-1), computed without overflow.
  Clock::duration delay = backoff_min_;
  for (int i = 1; i < consecutive_ + 1 && delay < backoff_max_; ++i) delay *= 2;
  ++consecutive_;
  d.at = now + std::min(delay, backoff_max_);
  return d;
}

}  // namespace vigil::supervisor
