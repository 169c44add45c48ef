#include "supervisor/quarantine.h"

#include <gtest/gtest.h>

namespace vigil::supervisor {
namespace {

using std::chrono::seconds;
const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

TEST(Quarantine, SecondCrashQuarantines) {
  Quarantine q(2, seconds(600));
  EXPECT_FALSE(q.RecordCrash("a", t0));
  EXPECT_FALSE(q.IsQuarantined("a", t0));
  EXPECT_TRUE(q.RecordCrash("a", t0 + seconds(1)));
  EXPECT_TRUE(q.IsQuarantined("a", t0 + seconds(1)));
  EXPECT_FALSE(q.IsQuarantined("b", t0 + seconds(1)));
  EXPECT_EQ(q.QuarantinedCount(t0 + seconds(1)), 1u);
  // A third crash (a job already running when it was quarantined) does not
  // count as a new quarantine.
  EXPECT_FALSE(q.RecordCrash("a", t0 + seconds(2)));
}

TEST(Quarantine, EndsJustAfterThePeriod) {
  Quarantine q(2, seconds(600));
  q.RecordCrash("a", t0);
  q.RecordCrash("a", t0 + seconds(10));
  EXPECT_TRUE(q.IsQuarantined("a", t0 + seconds(609)));   // just in time
  EXPECT_FALSE(q.IsQuarantined("a", t0 + seconds(610)));  // too late
  EXPECT_EQ(*q.QuarantinedUntil("a", t0 + seconds(10)), t0 + seconds(610));
}

TEST(Quarantine, CrashesTooFarApartDoNotAddUp) {
  Quarantine q(2, seconds(600));
  q.RecordCrash("a", t0);
  EXPECT_FALSE(q.RecordCrash("a", t0 + seconds(600)));  // the first one was forgotten
  EXPECT_TRUE(q.RecordCrash("a", t0 + seconds(1199)));   // within the period of the second
}

TEST(Quarantine, MemoryIsBounded) {
  Quarantine q(2, seconds(600), 100);
  for (int i = 0; i < 1000; ++i) q.RecordCrash("k" + std::to_string(i), t0 + seconds(i) / 10);
  EXPECT_LE(q.tracked(), 100u);
  EXPECT_EQ(q.Crashes("k999", t0 + seconds(100)), 1);
}

}  // namespace
}  // namespace vigil::supervisor
