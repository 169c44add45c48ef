// Tests of image::SniffImage on headers built byte by byte: one good case per
// format, then the ways a header can be truncated, lie, or be too large.
#include "image/sniff.h"

#include <gtest/gtest.h>

#include <string>

namespace vigil::image {
namespace {

uint32_t Crc(const std::string& d) {
  uint32_t c = 0xffffffffu;
  for (unsigned char ch : d) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xffffffffu;
}
std::string Be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string Le16(uint32_t v) { return {char(v), char(v >> 8)}; }
std::string Le24(uint32_t v) { return {char(v), char(v >> 8), char(v >> 16)}; }
std::string Le32(uint32_t v) { return Le16(v) + Le16(v >> 16); }
std::string PngChunk(const std::string& type, const std::string& data) {
  return Be32(uint32_t(data.size())) + type + data + Be32(Crc(type + data));
}
std::string Png(uint32_t w, uint32_t h, int depth = 8, int color = 2) {
  std::string ihdr = Be32(w) + Be32(h) + char(depth) + char(color) + std::string(3, '\0');
  return std::string("\x89PNG\r\n\x1a\n", 8) + PngChunk("IHDR", ihdr) + PngChunk("IDAT", "xx") + PngChunk("IEND", "");
}
std::string Jpeg(uint16_t w, uint16_t h, uint8_t sof = 0xc0) {
  std::string s = "\xff\xd8";
  s += std::string("\xff\xe0\x00\x04\x00\x00", 6);  // APP0, 2 bytes of payload
  s += std::string("\xff") + char(sof) + std::string("\x00\x11\x08", 3) + char(h >> 8) + char(h) + char(w >> 8) +
       char(w) + std::string("\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01", 10);
  s += std::string("\xff\xda\x00\x02", 4) + "entropy" + "\xff\xd9";
  return s;
}
std::string Riff(const std::string& body) { return "RIFF" + Le32(uint32_t(body.size() + 4)) + "WEBP" + body; }
std::string Vp8l(uint32_t w, uint32_t h) {
  return "VP8L" + Le32(5) + "\x2f" + Le32((w - 1) | ((h - 1) << 14)) + std::string(1, '\0');
}
std::string Gif(uint16_t w, uint16_t h, uint16_t fw, uint16_t fh, int frames = 1) {
  std::string s = "GIF89a" + Le16(w) + Le16(h) + std::string("\x00\x00\x00", 3);
  for (int i = 0; i < frames; ++i) {
    s += "\x2c" + Le16(0) + Le16(0) + Le16(fw) + Le16(fh) + std::string(1, '\0');
    s += std::string("\x02\x02\x44\x01\x00", 5);
  }
  return s + "\x3b";
}

ErrorCode CodeOf(const std::string& bytes, SniffLimits limits = {}) {
  auto r = SniffImage(bytes, limits);
  EXPECT_FALSE(r.ok());
  return r.ok() ? ErrorCode::kInternal : r.error().code;
}

TEST(Sniff, Png) {
  auto r = SniffImage(Png(640, 480));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->format, Format::kPng);
  EXPECT_EQ(r->width, 640);
  EXPECT_EQ(r->height, 480);
  EXPECT_TRUE(SniffImage(Png(1, 65535)).ok());
  EXPECT_TRUE(SniffImage(Png(4, 4, 16, 6)).ok());  // 16-bit RGBA
  EXPECT_TRUE(SniffImage(Png(4, 4, 4, 3)).ok());   // palette
}

TEST(Sniff, PngLiesAndTruncation) {
  std::string flipped = Png(64, 64);
  flipped[19] ^= 0x40;  // width changes, CRC does not
  EXPECT_EQ(CodeOf(flipped), ErrorCode::kInvalidImage);
  const std::string good = Png(64, 64);
  for (size_t n : {8ul, 20ul, 33ul, good.size() - 1}) EXPECT_EQ(CodeOf(good.substr(0, n)), ErrorCode::kInvalidImage) << n;
  EXPECT_EQ(CodeOf(Png(0, 10)), ErrorCode::kInvalidImage);
  EXPECT_EQ(CodeOf(Png(0x80000000u, 1)), ErrorCode::kInvalidImage);
  EXPECT_EQ(CodeOf(Png(4, 4, 3, 2)), ErrorCode::kInvalidImage);  // bad depth for RGB
}

TEST(Sniff, PixelLimitIsInclusive) {
  EXPECT_TRUE(SniffImage(Png(100, 100), {10000, false}).ok());   // just in time
  EXPECT_EQ(CodeOf(Png(100, 101), {10000, false}), ErrorCode::kImageTooLarge);  // one row too many
  auto r = SniffImage(Png(100000, 100000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kImageTooLarge);
  EXPECT_NE(r.error().message.find("50000000"), std::string::npos);
}

TEST(Sniff, Jpeg) {
  auto r = SniffImage(Jpeg(320, 200));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->width, 320);
  EXPECT_EQ(r->height, 200);
  EXPECT_TRUE(SniffImage(Jpeg(8, 8, 0xc2)).ok());  // progressive
  EXPECT_EQ(CodeOf(Jpeg(8, 0)), ErrorCode::kInvalidImage);
  const std::string good = Jpeg(8, 8);
  EXPECT_EQ(CodeOf(good.substr(0, good.size() - 2)), ErrorCode::kInvalidImage);  // no EOI
  EXPECT_EQ(CodeOf(good.substr(0, 10)), ErrorCode::kInvalidImage);
  EXPECT_EQ(CodeOf(std::string("\xff\xd8\xff\xda\x00\x02\xff\xd9", 8)), ErrorCode::kInvalidImage);  // scan first
  EXPECT_EQ(CodeOf(Jpeg(65535, 65535)), ErrorCode::kImageTooLarge);
}

TEST(Sniff, Webp) {
  auto r = SniffImage(Riff(Vp8l(300, 200)));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->format, Format::kWebp);
  EXPECT_EQ(r->width, 300);
  EXPECT_EQ(r->height, 200);
  // VP8X canvas must agree with the bitstream of a still image.
  const std::string vp8x = "VP8X" + Le32(10) + std::string(4, '\0') + Le24(299) + Le24(199);
  EXPECT_TRUE(SniffImage(Riff(vp8x + Vp8l(300, 200))).ok());
  EXPECT_EQ(CodeOf(Riff("VP8X" + Le32(10) + std::string(4, '\0') + Le24(16382) + Le24(16382) + Vp8l(1, 1))),
            ErrorCode::kInvalidImage);
  EXPECT_EQ(CodeOf(Riff(vp8x)), ErrorCode::kInvalidImage);  // no image data
  const std::string good = Riff(Vp8l(4, 4));
  EXPECT_EQ(CodeOf(good.substr(0, good.size() - 3)), ErrorCode::kInvalidImage);
  const std::string vp8 = "VP8 " + Le32(10) + std::string("\x10\x00\x00\x9d\x01\x2a", 6) + Le16(64) + Le16(48);
  r = SniffImage(Riff(vp8));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->width, 64);
}

TEST(Sniff, Gif) {
  auto r = SniffImage(Gif(10, 20, 10, 20));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->height, 20);
  EXPECT_FALSE(r->animated);
  EXPECT_TRUE(SniffImage(Gif(10, 20, 10, 20, 3))->animated);
  // A frame far larger than the screen is the bomb, not the screen.
  EXPECT_EQ(CodeOf(Gif(10, 10, 65535, 65535)), ErrorCode::kImageTooLarge);
  const std::string good = Gif(4, 4, 4, 4);
  EXPECT_EQ(CodeOf(good.substr(0, good.size() - 1)), ErrorCode::kInvalidImage);
  EXPECT_EQ(CodeOf(Gif(0, 4, 4, 4)), ErrorCode::kInvalidImage);
}

TEST(Sniff, BmpAndUnknown) {
  std::string bmp = "BM" + Le32(70) + Le32(0) + Le32(54) + Le32(40) + Le32(2) + Le32(uint32_t(-2)) +
                    std::string(40, '\0');
  EXPECT_EQ(CodeOf(bmp), ErrorCode::kUnsupportedImageFormat);
  auto r = SniffImage(bmp, {50'000'000, true});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->height, 2);  // top-down
  EXPECT_EQ(CodeOf("hello, I am text"), ErrorCode::kUnsupportedImageFormat);
  EXPECT_EQ(CodeOf(""), ErrorCode::kInvalidImage);
  EXPECT_EQ(CodeOf("%PDF-1.4 \x89PNG"), ErrorCode::kUnsupportedImageFormat);  // polyglot: first bytes rule
}

}  // namespace
}  // namespace vigil::image
