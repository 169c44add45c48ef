// restart_policy.h: when a dead worker's slot restarts.
//
// Two kinds of death, told apart by whether the worker had loaded:
//
// - A crash at load (the worker died, hung or exited before `loaded`): a
//   broken model, driver or flag fails the same way every time. Restarts
//   back off exponentially, load_backoff_min * 2^(n-1) up to
//   load_backoff_max; after `load_failures_before_hold` loads in a row fail
//   the slot is held for `hold` and says why ("crash loop at load"), as
//   OTP's restart intensity would (nginx respawns without limit; we do not).
//   A successful load ends the streak.
// - A crash in service (the worker had loaded): the model and the driver
//   work, so the slot restarts at once, then with a short capped backoff,
//   service_backoff_min * 2^(n-2) up to service_backoff_max while no job
//   finishes in between (service_first_delay, 0 by default, for the first).
//   It is never held: inputs that crash workers are
//   bounded by quarantine and the job's attempt limit, and outside signals
//   (a fault storm) are not the model's fault. So after any storm a slot
//   is back within service_backoff_max plus a load.
//
// State per slot:
//
//   (serving) --crash in service--> restart after 0, then <= service_backoff_max
//   (loading) --crash at load-----> restart after load backoff
//   (loading) --Nth load crash in a row--> held for `hold` --> (loading)
//
// Thread-safety: none (event-loop thread). Time comes from the caller.
#pragma once

#include <chrono>

#include "supervisor/clock.h"

namespace vigil::supervisor {

struct RestartLimits {
  int load_failures_before_hold = 5;
  Clock::duration hold = std::chrono::seconds(60);
  Clock::duration load_backoff_min = std::chrono::milliseconds(100);
  Clock::duration load_backoff_max = std::chrono::seconds(10);
  Clock::duration service_first_delay{0};
  Clock::duration service_backoff_min = std::chrono::milliseconds(100);
  Clock::duration service_backoff_max = std::chrono::seconds(1);
};

class RestartPolicy {
 public:
  explicit RestartPolicy(RestartLimits limits);

  enum class Death { kAtLoad, kInService };

  struct Decision {
    bool hold = false;      // crash loop at load: restart only at `at`
    TimePoint at;           // when to spawn the next incarnation
    int load_failures = 0;  // loads failed in a row, this one included
  };

  // A worker of this slot exited unasked at `now`.
  Decision OnExit(TimePoint now, Death death);
  // The worker loaded: the model and driver work; the load streak ends.
  void OnLoaded() { load_failures_ = 0; }
  // A job finished on this slot: the worker is healthy; reset the backoff.
  void OnHealthy() { service_exits_ = 0; }
  // The hold ended: the next load failure starts a new streak's backoff,
  // but one more failure holds again.
  void OnHoldEnded() { load_failures_ = limits_.load_failures_before_hold - 1; }

  int load_failures() const { return load_failures_; }
  int service_exits() const { return service_exits_; }

 private:
  RestartLimits limits_;
  int load_failures_ = 0;  // loads failed in a row
  int service_exits_ = 0;  // crashes in service since a job last finished
};

}  // namespace vigil::supervisor
