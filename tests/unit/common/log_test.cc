// The one logging path: the line format every process writes, level names
// and filtering.
#include <gtest/gtest.h>

#include <regex>

#include "common/log.h"

namespace vigil {
namespace {

TEST(Log, MessageQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(FormatLogMessage("job_retried", {{"a", 1}, {"b", "x y"}, {"c", "plain"}, {"d", ""}}),
            "job_retried a=1 b=\"x y\" c=plain d=\"\"");
}

TEST(Log, OneLineWithUtcTimeLevelAndEvent) {
  ::testing::internal::CaptureStderr();
  SetLogLevel(LogLevel::kInfo);
  Log(LogLevel::kDebug, "hidden_thing_happened");
  LogWarn("thing_happened", {{"n", 2}});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(std::regex_match(err, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warning thing_happened n=2\n)")))
      << err;
}

TEST(Log, LevelNames) {
  EXPECT_TRUE(SetLogLevel("warn"));
  EXPECT_TRUE(SetLogLevel("trace"));
  EXPECT_FALSE(SetLogLevel("loud"));
  SetLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace vigil
