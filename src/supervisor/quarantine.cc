#include "supervisor/quarantine.h"

#include <algorithm>

namespace vigil::supervisor {

Quarantine::Quarantine(int threshold, Clock::duration period, size_t capacity)
    : threshold_(std::max(1, threshold)), period_(period), capacity_(std::max<size_t>(1, capacity)) {}

void Quarantine::Expire(TimePoint now) {
  std::erase_if(entries_, [&](const auto& kv) { return now - kv.second.last_crash >= period_; });
  while (entries_.size() >= capacity_) {
    auto stalest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.last_crash < b.second.last_crash;
    });
    entries_.erase(stalest);
  }
}

bool Quarantine::RecordCrash(const std::string& fingerprint, TimePoint now) {
  auto it = entries_.find(fingerprint);
  if (it != entries_.end() && now - it->second.last_crash >= period_) {
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    Expire(now);
    it = entries_.emplace(fingerprint, Entry{}).first;
  }
  const bool was = it->second.crashes >= threshold_;
  it->second.crashes++;
  it->second.last_crash = now;
  return !was && it->second.crashes >= threshold_;
}

std::optional<TimePoint> Quarantine::QuarantinedUntil(const std::string& fingerprint,
                                                      TimePoint now) const {
  auto it = entries_.find(fingerprint);
  if (it == entries_.end() || it->second.crashes < threshold_) return std::nullopt;
  const TimePoint until = it->second.last_crash + period_;
  if (now >= until) return std::nullopt;
  return until;
}

int Quarantine::Crashes(const std::string& fingerprint, TimePoint now) const {
  auto it = entries_.find(fingerprint);
  if (it == entries_.end() || now - it->second.last_crash >= period_) return 0;
  return it->second.crashes;
}

size_t Quarantine::QuarantinedCount(TimePoint now) const {
  return std::count_if(entries_.begin(), entries_.end(), [&](const auto& kv) {
    return kv.second.crashes >= threshold_ && now - kv.second.last_crash < period_;
  });
}

}  // namespace vigil::supervisor
