// The one user look-up behind --worker-user and the worker's --user.
#include "common/user.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(LookUpUser, NamesNumbersAndUnknowns) {
  auto root = LookUpUser("root");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->first, 0u);
  auto zero = LookUpUser("0");
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->first, 0u);
  auto nobody = LookUpUser("nobody");
  ASSERT_TRUE(nobody.ok());
  EXPECT_GT(nobody->first, 0u);
  // A uid with no entry keeps its number as the gid.
  auto bare = LookUpUser("61234");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->first, 61234u);
  EXPECT_EQ(bare->second, 61234u);
  auto unknown = LookUpUser("no-such-user-vigil");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(unknown.error().message, "no such user no-such-user-vigil");
  EXPECT_FALSE(LookUpUser("").ok());
  EXPECT_FALSE(LookUpUser("-5").ok());
}

}  // namespace
}  // namespace vigil
