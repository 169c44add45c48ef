// The error table: every code has one HTTP status and one wire name, and
// the wire name parses back to the same code (workers send codes by name).
#include "common/error.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace vigil {
namespace {

TEST(ErrorTable, OutOfMemoryIs503AndCrossesTheWire) {
  EXPECT_EQ(HttpStatus(ErrorCode::kOutOfMemory), 503);
  EXPECT_EQ(WireName(ErrorCode::kOutOfMemory), "out_of_memory");
  EXPECT_EQ(ParseErrorCode("out_of_memory"), ErrorCode::kOutOfMemory);
  // Its own name, not an alias of the other 503s.
  EXPECT_NE(WireName(ErrorCode::kOutOfMemory), WireName(ErrorCode::kNotReady));
  EXPECT_NE(WireName(ErrorCode::kOutOfMemory), WireName(ErrorCode::kOverloaded));
}

TEST(ErrorTable, EveryCodeRoundTripsThroughItsUniqueWireName) {
  std::set<std::string> names;
  for (int i = static_cast<int>(ErrorCode::kInvalidRequest); i <= static_cast<int>(ErrorCode::kInternal);
       ++i) {
    const auto code = static_cast<ErrorCode>(i);
    const std::string name(WireName(code));
    // A code missing from the table falls back to {500, "internal"} and
    // would parse back as kInternal.
    EXPECT_EQ(ParseErrorCode(name), code) << "code " << i << " wire name " << name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate wire name " << name;
  }
  EXPECT_EQ(HttpStatus(ErrorCode::kNotReady), 503);
  EXPECT_EQ(ParseErrorCode("from_the_future"), std::nullopt);
}

}  // namespace
}  // namespace vigil
