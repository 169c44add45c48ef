#include "worker/text_stream.h"

#include <gtest/gtest.h>

namespace vigil::worker {
namespace {

// Pushes each token, returns the concatenated emitted text and checks the
// stream's invariant (emitted == text()).
std::string Feed(TextStream& s, const std::vector<std::string>& tokens, bool* stopped = nullptr) {
  std::string out;
  bool stop = false;
  for (const auto& t : tokens) {
    TextStream::Update u = s.Push(t);
    out += u.emit;
    if (u.stopped) {
      stop = true;
      break;
    }
  }
  out += s.Flush();
  EXPECT_EQ(out, s.text());
  if (stopped) *stopped = stop;
  return out;
}

TEST(TextStream, PassesPlainText) {
  TextStream s({});
  EXPECT_EQ(s.Push("hello").emit, "hello");
  EXPECT_EQ(s.Push(" world").emit, " world");
  EXPECT_EQ(s.Flush(), "");
}

TEST(TextStream, HoldsPartialMultibyteCharacters) {
  TextStream s({});
  const std::string euro = "\xE2\x82\xAC";  // U+20AC in three tokens
  EXPECT_EQ(s.Push(euro.substr(0, 1)).emit, "");
  EXPECT_EQ(s.Push(euro.substr(1, 1)).emit, "");
  EXPECT_EQ(s.Push(euro.substr(2) + "x").emit, euro + "x");
}

TEST(TextStream, InvalidBytesBecomeReplacementCharacters) {
  TextStream s({});
  EXPECT_EQ(s.Push("a\xFF" "b").emit, "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(s.Push("\xE2\x28").emit, "\xEF\xBF\xBD(");  // bad continuation
  EXPECT_EQ(s.Push("\xED\xA0\x80").emit.find("\xED"), std::string::npos);  // surrogate
  EXPECT_EQ(s.Push("\xF0\x9F").emit, "");
  EXPECT_EQ(s.Flush(), "\xEF\xBF\xBD");  // a lone partial character at the end
}

TEST(TextStream, StopStringIsCutAndNeverShown) {
  TextStream s({"STOP"});
  bool stopped = false;
  EXPECT_EQ(Feed(s, {"one ", "two S", "TO", "P three"}, &stopped), "one two ");
  EXPECT_TRUE(stopped);
}

TEST(TextStream, PrefixOfStopIsHeldThenReleased) {
  TextStream s({"STOP"});
  EXPECT_EQ(s.Push("abc ST").emit, "abc ");
  EXPECT_EQ(s.Push("x").emit, "STx");
  EXPECT_EQ(s.Flush(), "");
}

TEST(TextStream, StopInsideOneTokenAndEarliestWins) {
  TextStream s({"zz", "b"});
  bool stopped = false;
  EXPECT_EQ(Feed(s, {"aazzb"}, &stopped), "aa");
  EXPECT_TRUE(stopped);
}

TEST(TextStream, HeldPrefixFlushedAtEnd) {
  TextStream s({"STOP"});
  EXPECT_EQ(Feed(s, {"end ST"}), "end ST");
}

TEST(TextStream, MultibyteStopString) {
  TextStream s({"\xC3\xA9t\xC3\xA9"});  // "été"
  bool stopped = false;
  EXPECT_EQ(Feed(s, {"un \xC3", "\xA9t", "\xC3\xA9 chaud"}, &stopped), "un ");
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace vigil::worker
