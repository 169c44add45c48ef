#include "supervisor/hang_monitor.h"

#include <gtest/gtest.h>

namespace vigil::supervisor {
namespace {

using std::chrono::milliseconds;
using Mode = HangMonitor::Mode;
const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

HangLimits Limits() {
  HangLimits l;
  l.load = milliseconds(5000);
  l.image_encode = milliseconds(3000);
  l.prefill = milliseconds(2000);
  l.decode = milliseconds(1000);
  l.heartbeat = milliseconds(500);
  return l;
}

TEST(HangMonitor, NoHeartbeatAtAll) {
  HangMonitor m(Limits());
  m.Enter(Mode::kLoading, t0);
  EXPECT_EQ(m.NextDeadline(), t0 + milliseconds(500));
  EXPECT_FALSE(m.Check(t0 + milliseconds(499)));  // just in time
  auto why = m.Check(t0 + milliseconds(500));     // too late
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("no heartbeat"), std::string::npos);
}

TEST(HangMonitor, HeartbeatsKeepAnIdleWorkerAlive) {
  HangMonitor m(Limits());
  m.Enter(Mode::kLoading, t0);
  m.Enter(Mode::kIdle, t0);
  for (int i = 1; i <= 100; ++i) m.OnHeartbeat("idle", 0, t0 + milliseconds(100 * i));
  EXPECT_FALSE(m.Check(t0 + milliseconds(10000)));  // no progress needed while idle
  EXPECT_TRUE(m.Check(t0 + milliseconds(10500)));
}

TEST(HangMonitor, FrozenDecodeIsHungAfterTheDecodeLimit) {
  HangMonitor m(Limits());
  m.Enter(Mode::kIdle, t0);
  m.Enter(Mode::kBusy, t0);
  m.OnHeartbeat("decode", 7, t0 + milliseconds(10));
  for (int i = 1; i <= 10; ++i) m.OnHeartbeat("decode", 7, t0 + milliseconds(10 + 100 * i));
  EXPECT_FALSE(m.Check(t0 + milliseconds(1009)));  // just in time
  auto why = m.Check(t0 + milliseconds(1010));      // too late
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("decode"), std::string::npos);
  EXPECT_EQ(m.NextDeadline(), t0 + milliseconds(1010));
}

TEST(HangMonitor, ProgressAndPhaseChangesResetTheClock) {
  HangMonitor m(Limits());
  m.Enter(Mode::kBusy, t0);
  m.OnHeartbeat("image_encode", 0, t0 + milliseconds(100));
  m.OnHeartbeat("image_encode", 0, t0 + milliseconds(2900));
  EXPECT_FALSE(m.Check(t0 + milliseconds(3000)));  // encode limit is 3 s
  m.OnHeartbeat("prefill", 0, t0 + milliseconds(3000));
  m.OnHeartbeat("prefill", 0, t0 + milliseconds(3400));
  m.OnHeartbeat("prefill", 0, t0 + milliseconds(3800));
  m.OnHeartbeat("prefill", 0, t0 + milliseconds(4200));
  m.OnHeartbeat("prefill", 0, t0 + milliseconds(4600));
  EXPECT_FALSE(m.Check(t0 + milliseconds(4999)));
  EXPECT_TRUE(m.Check(t0 + milliseconds(5000)));   // prefill frozen 2 s
  m.OnHeartbeat("prefill", 1, t0 + milliseconds(5000));
  EXPECT_FALSE(m.Check(t0 + milliseconds(5001)));
}

TEST(HangMonitor, LoadUsesTheLoadLimit) {
  HangMonitor m(Limits());
  m.Enter(Mode::kLoading, t0);
  for (int i = 1; i < 60; ++i) m.OnHeartbeat("load", 0, t0 + milliseconds(100 * i));
  EXPECT_FALSE(m.Check(t0 + milliseconds(4999)));
  EXPECT_TRUE(m.Check(t0 + milliseconds(5000)));
}

}  // namespace
}  // namespace vigil::supervisor
