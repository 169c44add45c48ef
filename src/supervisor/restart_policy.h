// restart_policy.h: when a dead worker's slot restarts, OTP style.
//
// Two rules, as in Erlang/OTP's supervisor (add_restart) plus a backoff:
// - Intensity: more than `intensity` counted restarts within `period` hold
//   the slot: it stops restarting for one `period` (nginx respawns without
//   limit; we do not). Restarts caused by a job's input (a crash while busy)
//   are not counted: the input's quarantine and the job's attempt limit
//   bound those, and counting them would let a burst of bad requests take
//   the whole pool down. Crashes at load or while idle are counted.
// - Backoff: the n-th consecutive exit (no job finished in between) waits
//   min(backoff_max, backoff_min * 2^(n-1)).
//
// Thread-safety: none (event-loop thread). Time comes from the caller.
#pragma once

#include <chrono>
#include <deque>

#include "supervisor/clock.h"

namespace vigil::supervisor {

class RestartPolicy {
 public:
  RestartPolicy(int intensity, Clock::duration period, Clock::duration backoff_min,
                Clock::duration backoff_max);

  struct Decision {
    bool hold = false;      // intensity exceeded: restart only at `at`
    TimePoint at;           // when to spawn the next incarnation
    int restarts_in_period = 0;
  };

  // A worker of this slot exited unasked at `now`.
  Decision OnExit(TimePoint now, bool counts_toward_intensity);
  // A job finished on this slot: the worker is healthy; reset the backoff.
  void OnHealthy() { consecutive_ = 0; }
  // The hold ended: start counting afresh.
  void OnHoldEnded() { restarts_.clear(); consecutive_ = 0; }

  int consecutive_exits() const { return consecutive_; }

 private:
  int intensity_;
  Clock::duration period_, backoff_min_, backoff_max_;
  std::deque<TimePoint> restarts_;  // counted restarts within the period
  int consecutive_ = 0;
};

}  // namespace vigil::supervisor
