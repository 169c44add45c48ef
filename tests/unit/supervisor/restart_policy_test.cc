// RestartPolicy on a fake timeline: crashes at load back off and then hold;
// crashes in service restart at once, then with a short capped backoff, and
// never hold (restart_policy.h).
#include "supervisor/restart_policy.h"

#include <gtest/gtest.h>

namespace vigil::supervisor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Death = RestartPolicy::Death;
const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

RestartLimits Limits() {
  return RestartLimits{.load_failures_before_hold = 6,
                       .hold = seconds(60),
                       .load_backoff_min = milliseconds(100),
                       .load_backoff_max = milliseconds(1000),
                       .service_backoff_min = milliseconds(100),
                       .service_backoff_max = milliseconds(1000)};
}

milliseconds Delay(const RestartPolicy::Decision& d, TimePoint now) {
  return std::chrono::duration_cast<milliseconds>(d.at - now);
}

TEST(RestartPolicy, LoadCrashesBackOffDoublingUpToTheCap) {
  RestartLimits l = Limits();
  l.load_failures_before_hold = 100;
  RestartPolicy p(l);
  std::vector<milliseconds> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(Delay(p.OnExit(t0, Death::kAtLoad), t0));
  EXPECT_EQ(delays, (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(400),
                                               milliseconds(800), milliseconds(1000), milliseconds(1000)}));
}

TEST(RestartPolicy, CrashLoopAtLoadHoldsOnTheNthFailureInARow) {
  RestartPolicy p(Limits());
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(p.OnExit(t0 + seconds(i), Death::kAtLoad).hold) << i;
  // Just in time: the 5th failure still restarts. Too many: the 6th holds.
  auto d = p.OnExit(t0 + seconds(5), Death::kAtLoad);
  EXPECT_TRUE(d.hold);
  EXPECT_EQ(d.load_failures, 6);
  EXPECT_EQ(d.at, t0 + seconds(65));
}

TEST(RestartPolicy, ASuccessfulLoadEndsTheStreak) {
  RestartPolicy p(Limits());
  for (int i = 0; i < 5; ++i) p.OnExit(t0, Death::kAtLoad);
  p.OnLoaded();
  auto d = p.OnExit(t0, Death::kAtLoad);
  EXPECT_FALSE(d.hold);
  EXPECT_EQ(d.load_failures, 1);
  EXPECT_EQ(Delay(d, t0), milliseconds(100));
}

TEST(RestartPolicy, AfterAHoldOneMoreLoadFailureHoldsAgain) {
  RestartPolicy p(Limits());
  for (int i = 0; i < 6; ++i) p.OnExit(t0, Death::kAtLoad);
  p.OnHoldEnded();
  EXPECT_TRUE(p.OnExit(t0 + seconds(61), Death::kAtLoad).hold);
  RestartPolicy q(Limits());
  for (int i = 0; i < 6; ++i) q.OnExit(t0, Death::kAtLoad);
  q.OnHoldEnded();
  q.OnLoaded();  // the held slot loaded: a new streak
  EXPECT_FALSE(q.OnExit(t0 + seconds(61), Death::kAtLoad).hold);
}

TEST(RestartPolicy, CrashInServiceRestartsAtOnceThenCappedAndNeverHolds) {
  RestartPolicy p(Limits());
  std::vector<milliseconds> delays;
  // A storm: 200 crashes within a second, none of them ever held.
  for (int i = 0; i < 200; ++i) {
    auto d = p.OnExit(t0, Death::kInService);
    ASSERT_FALSE(d.hold) << i;
    if (i < 6) delays.push_back(Delay(d, t0));
    EXPECT_LE(Delay(d, t0), milliseconds(1000));
  }
  EXPECT_EQ(delays, (std::vector<milliseconds>{milliseconds(0), milliseconds(100), milliseconds(200),
                                               milliseconds(400), milliseconds(800), milliseconds(1000)}));
}

TEST(RestartPolicy, AFinishedJobResetsTheServiceBackoff) {
  RestartPolicy p(Limits());
  for (int i = 0; i < 5; ++i) p.OnExit(t0, Death::kInService);
  p.OnHealthy();
  EXPECT_EQ(Delay(p.OnExit(t0, Death::kInService), t0), milliseconds(0));
}

TEST(RestartPolicy, CrashesInServiceDoNotFeedTheLoadStreak) {
  RestartPolicy p(Limits());
  for (int i = 0; i < 5; ++i) p.OnExit(t0, Death::kAtLoad);
  for (int i = 0; i < 50; ++i) p.OnExit(t0, Death::kInService);
  EXPECT_EQ(p.load_failures(), 5);
  EXPECT_TRUE(p.OnExit(t0, Death::kAtLoad).hold);
}

TEST(RestartPolicy, FirstServiceDelayIsConfigurable) {
  RestartLimits l = Limits();
  l.service_first_delay = milliseconds(2000);
  l.service_backoff_min = l.service_backoff_max = milliseconds(2000);
  RestartPolicy p(l);
  EXPECT_EQ(Delay(p.OnExit(t0, Death::kInService), t0), milliseconds(2000));
  EXPECT_EQ(Delay(p.OnExit(t0, Death::kInService), t0), milliseconds(2000));
}

// The storm figure the policy promises: however long a storm of crashes in
// service lasts, the slot's next spawn is at most service_backoff_max after
// the last crash.
TEST(RestartPolicy, AfterAStormTheSlotRestartsWithinTheServiceCap) {
  RestartPolicy p(Limits());
  TimePoint now = t0;
  RestartPolicy::Decision last;
  for (int i = 0; i < 150; ++i, now += milliseconds(100)) last = p.OnExit(now, Death::kInService);
  EXPECT_FALSE(last.hold);
  EXPECT_LE(last.at - (now - milliseconds(100)), milliseconds(1000));
}

}  // namespace
}  // namespace vigil::supervisor
