#include "supervisor/restart_policy.h"

#include <gtest/gtest.h>

namespace vigil::supervisor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

TEST(RestartPolicy, BackoffDoublesUpToTheCap) {
  RestartPolicy p(100, seconds(60), milliseconds(100), milliseconds(1000));
  std::vector<milliseconds> delays;
  for (int i = 0; i < 6; ++i) {
    auto d = p.OnExit(t0, true);
    EXPECT_FALSE(d.hold);
    delays.push_back(std::chrono::duration_cast<milliseconds>(d.at - t0));
  }
  EXPECT_EQ(delays, (std::vector<milliseconds>{milliseconds(100), milliseconds(200),
                                               milliseconds(400), milliseconds(800),
                                               milliseconds(1000), milliseconds(1000)}));
}

TEST(RestartPolicy, HealthyWorkerResetsTheBackoff) {
  RestartPolicy p(100, seconds(60), milliseconds(100), milliseconds(1000));
  p.OnExit(t0, true);
  p.OnExit(t0, true);
  p.OnHealthy();
  EXPECT_EQ(p.OnExit(t0, true).at - t0, milliseconds(100));
}

TEST(RestartPolicy, IntensityHoldsTheSlotOnTheRestartPastTheLimit) {
  RestartPolicy p(5, seconds(60), milliseconds(1), milliseconds(1));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(p.OnExit(t0 + seconds(i), true).hold) << i;
  auto d = p.OnExit(t0 + seconds(5), true);  // the 6th within 60 s
  EXPECT_TRUE(d.hold);
  EXPECT_EQ(d.restarts_in_period, 6);
  EXPECT_EQ(d.at, t0 + seconds(65));
}

TEST(RestartPolicy, RestartsOutsideThePeriodAreForgotten) {
  RestartPolicy p(5, seconds(60), milliseconds(1), milliseconds(1));
  for (int i = 0; i < 5; ++i) p.OnExit(t0 + seconds(i), true);
  // The first restart (t0) leaves the window at t0+60: just in time.
  EXPECT_FALSE(p.OnExit(t0 + seconds(60), true).hold);
  RestartPolicy q(5, seconds(60), milliseconds(1), milliseconds(1));
  for (int i = 0; i < 5; ++i) q.OnExit(t0 + seconds(i), true);
  // Still inside the window: too many.
  EXPECT_TRUE(q.OnExit(t0 + seconds(59), true).hold);
}

TEST(RestartPolicy, JobCrashesDoNotCountTowardIntensity) {
  RestartPolicy p(2, seconds(60), milliseconds(1), milliseconds(1));
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(p.OnExit(t0, false).hold);
  EXPECT_FALSE(p.OnExit(t0, true).hold);
}

TEST(RestartPolicy, HoldEndClearsHistory) {
  RestartPolicy p(1, seconds(60), milliseconds(1), milliseconds(1));
  p.OnExit(t0, true);
  ASSERT_TRUE(p.OnExit(t0, true).hold);
  p.OnHoldEnded();
  EXPECT_FALSE(p.OnExit(t0 + seconds(61), true).hold);
}

}  // namespace
}  // namespace vigil::supervisor
