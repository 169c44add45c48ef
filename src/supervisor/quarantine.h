// quarantine.h: poison-input bookkeeping.
//
// Each worker crash attributed to one input (its fingerprint) is recorded.
// An input with `threshold` crashes, each within `period` of the previous
// one, is quarantined for `period` from the last crash: Submit answers it
// with kInputQuarantined without touching a worker. Entries are forgotten
// once their period passed; at most `capacity` inputs are tracked (the
// stalest is dropped first), so a stream of distinct crashing inputs cannot
// grow memory without bound.
//
// Thread-safety: none (event-loop thread). Time comes from the caller.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>

#include "supervisor/clock.h"

namespace vigil::supervisor {

class Quarantine {
 public:
  Quarantine(int threshold, Clock::duration period, size_t capacity = 10000);

  // Records one crash on `fingerprint`. Returns true when this crash put the
  // input into quarantine (false if it was already there or stays below).
  bool RecordCrash(const std::string& fingerprint, TimePoint now);

  // If quarantined at `now`, the instant quarantine ends.
  std::optional<TimePoint> QuarantinedUntil(const std::string& fingerprint, TimePoint now) const;
  bool IsQuarantined(const std::string& fingerprint, TimePoint now) const {
    return QuarantinedUntil(fingerprint, now).has_value();
  }
  int Crashes(const std::string& fingerprint, TimePoint now) const;

  // Number of inputs quarantined at `now`.
  size_t QuarantinedCount(TimePoint now) const;
  size_t tracked() const { return entries_.size(); }

 private:
  struct Entry {
    int crashes = 0;
    TimePoint last_crash;
  };
  void Expire(TimePoint now);

  int threshold_;
  Clock::duration period_;
  size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace vigil::supervisor
