#include "protocol/frame.h"

#include <gtest/gtest.h>

#include <random>

namespace vigil::protocol {
namespace {

Frame Sample(std::string payload = "img") {
  Frame f;
  f.type = MessageType::kJob;
  f.header = {{"job", 7}, {"prompt", "héllo"}};
  f.payload = std::move(payload);
  return f;
}

std::vector<Frame> DecodeAll(FrameDecoder& d) {
  std::vector<Frame> out;
  for (;;) {
    auto r = d.Next();
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (!r.ok() || !r.value()) return out;
    out.push_back(std::move(*r.value()));
  }
}

TEST(FrameTest, RoundTripsOneByteAtATime) {
  const std::string wire = EncodeFrame(Sample()) + EncodeFrame(Sample(std::string(100000, '\0')));
  FrameDecoder d;
  std::vector<Frame> frames;
  for (char c : wire) {
    d.Feed(std::string_view(&c, 1));
    auto more = DecodeAll(d);
    for (auto& f : more) frames.push_back(std::move(f));
  }
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].type, MessageType::kJob);
  EXPECT_EQ(frames[0].header["prompt"], "héllo");
  EXPECT_EQ(frames[0].payload, "img");
  EXPECT_EQ(frames[1].payload.size(), 100000u);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameTest, IncompleteFrameWaitsForMore) {
  const std::string wire = EncodeFrame(Sample());
  FrameDecoder d;
  d.Feed(std::string_view(wire).substr(0, wire.size() - 1));
  auto r = d.Next();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value().has_value());
  d.Feed(std::string_view(wire).substr(wire.size() - 1));
  r = d.Next();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value().has_value());
}

Error DecodeError(std::string wire) {
  FrameDecoder d;
  d.Feed(wire);
  auto r = d.Next();
  EXPECT_FALSE(r.ok());
  return r.ok() ? Error{} : r.error();
}

std::string U32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

TEST(FrameTest, RejectsUnknownTypeAfterFiveBytes) {
  // A garbage stream must be detected without waiting for its declared body.
  auto e = DecodeError(U32(1000) + std::string(1, '\x7f'));
  EXPECT_NE(e.message.find("unknown type"), std::string::npos);
}

TEST(FrameTest, RejectsOversizedAndTinyBodies) {
  EXPECT_NE(DecodeError(U32(kMaxFrameBytes + 1) + "\x01").message.find("body length"), std::string::npos);
  EXPECT_NE(DecodeError(U32(3) + "\x01\x00\x00").message.find("body length"), std::string::npos);
}

TEST(FrameTest, RejectsHeaderLongerThanBody) {
  auto e = DecodeError(U32(10) + "\x01" + U32(9) + "{}   ");
  EXPECT_NE(e.message.find("header length"), std::string::npos);
}

TEST(FrameTest, RejectsNonObjectHeader) {
  const std::string header = "[1,2]";
  auto e = DecodeError(U32(5 + header.size()) + "\x01" + U32(header.size()) + header);
  EXPECT_NE(e.message.find("not a JSON object"), std::string::npos);
  const std::string bad = "{\"a\":";
  e = DecodeError(U32(5 + bad.size()) + "\x01" + U32(bad.size()) + bad);
  EXPECT_NE(e.message.find("not a JSON object"), std::string::npos);
}

TEST(FrameTest, PoisonedDecoderStaysPoisoned) {
  FrameDecoder d;
  d.Feed(U32(1000) + std::string(1, '\x7f'));
  EXPECT_FALSE(d.Next().ok());
  d.Feed(EncodeFrame(Sample()));
  EXPECT_FALSE(d.Next().ok());
}

TEST(FrameTest, RandomGarbageNeverCrashesAndUsuallyFails) {
  std::mt19937 rng(42);
  int failures = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    FrameDecoder d;
    d.Feed(junk);
    for (int k = 0; k < 4; ++k) {
      auto r = d.Next();
      if (!r.ok()) { ++failures; break; }
      if (!r.value()) break;
    }
  }
  EXPECT_GT(failures, 1000);
}

}  // namespace
}  // namespace vigil::protocol
