#include "supervisor/fingerprint.h"

#include <gtest/gtest.h>

namespace vigil::supervisor {
namespace {

JobSpec Spec() {
  JobSpec s;
  s.prompt = "describe";
  s.images = {"\x89PNG...."};
  return s;
}

TEST(Fingerprint, SameInputSameFingerprint) {
  JobSpec a = Spec(), b = Spec();
  b.request_id = "other";       // not part of the input
  b.route = "/v1/chat/completions";
  b.timeout = std::chrono::milliseconds(5);
  EXPECT_EQ(Fingerprint(a), Fingerprint(b));
  EXPECT_EQ(Fingerprint(a).size(), 64u);
}

TEST(Fingerprint, EveryPartOfTheInputCounts) {
  const std::string base = Fingerprint(Spec());
  JobSpec s = Spec();
  s.prompt += "!";
  EXPECT_NE(Fingerprint(s), base);
  s = Spec();
  s.images[0] += "x";
  EXPECT_NE(Fingerprint(s), base);
  s = Spec();
  s.params.temperature = 0.5;
  EXPECT_NE(Fingerprint(s), base);
  s = Spec();
  s.params.seed = 7;
  EXPECT_NE(Fingerprint(s), base);
  s = Spec();
  s.params.stop = {"a"};
  EXPECT_NE(Fingerprint(s), base);
  s = Spec();
  s.fault = protocol::FaultSpec{.kind = "segfault"};
  EXPECT_NE(Fingerprint(s), base);
}

TEST(Fingerprint, FieldBoundariesAreKept) {
  JobSpec a = Spec(), b = Spec();
  a.images = {"ab"};
  a.prompt = "c";
  b.images = {"a"};
  b.prompt = "bc";
  EXPECT_NE(Fingerprint(a), Fingerprint(b));
}

}  // namespace
}  // namespace vigil::supervisor
