// Decoding each format from images made here with known pixels, and every
// kind of bad input ending in a typed error, never a crash.
#include <gtest/gtest.h>

#include <zlib.h>

#include <random>

#include "test_images.h"
#include "worker/imaging/exif.h"
#include "worker/imaging/image.h"

namespace vigil::imaging {
namespace {

using testing::EncodeAnimatedWebp;
using testing::EncodeCmykJpeg;
using testing::EncodeGif;
using testing::EncodeJpeg;
using testing::EncodePng;
using testing::EncodeWebp;
using testing::PngKind;
using testing::Rgba;
using testing::Split;
using testing::WithExifOrientation;

constexpr uint32_t kRed = 0xFF0000FF, kBlue = 0x0000FFFF, kClear = 0x00000000;

struct Px {
  int r, g, b;
};
Px At(const RgbImage& img, int x, int y) {
  const uint8_t* p = &img.pixels[(size_t(y) * img.width + x) * 3];
  return {p[0], p[1], p[2]};
}
void ExpectNear(Px got, Px want, int tol, const char* what) {
  EXPECT_NEAR(got.r, want.r, tol) << what;
  EXPECT_NEAR(got.g, want.g, tol) << what;
  EXPECT_NEAR(got.b, want.b, tol) << what;
}

DecodedImage MustDecode(const std::string& bytes, int target = 0) {
  Result<DecodedImage> r = Decode(bytes, Limits{}, target);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? std::move(*r) : DecodedImage{};
}

// Red left, blue right, within `tol` (lossy codecs blur the edge only).
void ExpectRedLeftBlueRight(const RgbImage& img, int tol) {
  ASSERT_GT(img.width, 1);
  ExpectNear(At(img, 0, 0), {255, 0, 0}, tol, "left");
  ExpectNear(At(img, img.width - 1, img.height - 1), {0, 0, 255}, tol, "right");
}

// The worker picks its codec with the supervisor's sniffer (image/sniff.h):
// what that recognises but the worker cannot decode (BMP) is refused typed.
TEST(Sniff, SharedWithTheSupervisorAndBmpRefused) {
  Format f;
  ASSERT_TRUE(image::DetectFormat(std::string("RIFF\0\0\0\0WEBPVP8 ", 16), &f));
  EXPECT_EQ(f, Format::kWebp);
  auto bmp = Decode(std::string("BM") + std::string(64, '\0'), Limits{}, 0);
  ASSERT_FALSE(bmp.ok());
  EXPECT_EQ(bmp.error().code, ErrorCode::kUnsupportedImageFormat);
  EXPECT_EQ(FormatName(Format::kGif), "gif");
}

TEST(Png, Rgb8) {
  DecodedImage d = MustDecode(EncodePng(Split(8, 4, kRed, kBlue), PngKind::kRgb8));
  EXPECT_EQ(d.format, Format::kPng);
  EXPECT_EQ(d.width, 8);
  EXPECT_EQ(d.height, 4);
  ExpectRedLeftBlueRight(d.image, 0);
}

TEST(Png, Rgb16ScaledTo8) {
  DecodedImage d = MustDecode(EncodePng(Split(8, 4, kRed, kBlue), PngKind::kRgb16));
  ExpectRedLeftBlueRight(d.image, 0);
}

TEST(Png, PaletteExpands) {
  DecodedImage d = MustDecode(EncodePng(Split(8, 4, kRed, kBlue), PngKind::kPalette));
  ExpectRedLeftBlueRight(d.image, 0);
}

TEST(Png, InterlacedRgba) {
  DecodedImage d = MustDecode(EncodePng(Split(16, 16, kRed, kBlue), PngKind::kRgba8, true));
  ExpectRedLeftBlueRight(d.image, 0);
}

TEST(Png, GrayAlphaCompositedOnWhite) {
  // Left: black, fully transparent -> white. Right: black, opaque -> black.
  DecodedImage d = MustDecode(EncodePng(Split(4, 2, 0x00000000, 0x000000FF), PngKind::kGrayAlpha8));
  ExpectNear(At(d.image, 0, 0), {255, 255, 255}, 0, "transparent");
  ExpectNear(At(d.image, 3, 1), {0, 0, 0}, 0, "opaque");
  DecodedImage half = MustDecode(EncodePng(Split(2, 1, 0x00000080, 0x00000080), PngKind::kGrayAlpha8));
  ExpectNear(At(half.image, 0, 0), {127, 127, 127}, 1, "half");
}

TEST(Jpeg, Baseline) {
  DecodedImage d = MustDecode(EncodeJpeg(Split(16, 8, kRed, kBlue)));
  EXPECT_EQ(d.format, Format::kJpeg);
  EXPECT_EQ(d.width, 16);
  ExpectRedLeftBlueRight(d.image, 8);
}

TEST(Jpeg, Progressive) {
  DecodedImage d = MustDecode(EncodeJpeg(Split(32, 16, kRed, kBlue), /*progressive=*/true));
  EXPECT_EQ(d.width, 32);
  EXPECT_EQ(d.height, 16);
  ExpectRedLeftBlueRight(d.image, 8);
}

TEST(Jpeg, CmykAndYcckConvertedToRgb) {
  // libjpeg refuses CMYK -> RGB; the decoder converts (Adobe inverted inks).
  DecodedImage d = MustDecode(EncodeCmykJpeg(Split(16, 8, kRed, kBlue)));
  EXPECT_EQ(d.width, 16);
  EXPECT_EQ(d.height, 8);
  ExpectRedLeftBlueRight(d.image, 12);
}

TEST(Jpeg, ExifOrientation6TurnsTwoByOneIntoOneByTwo) {
  const std::string jpeg = WithExifOrientation(EncodeJpeg(Split(2, 1, kRed, kBlue)), 6);
  EXPECT_EQ(JpegExifOrientation(jpeg), 6);
  DecodedImage d = MustDecode(jpeg);
  EXPECT_EQ(d.width, 1);
  EXPECT_EQ(d.height, 2);
  EXPECT_EQ(d.image.width, 1);
  EXPECT_EQ(d.image.height, 2);
}

TEST(Jpeg, ExifOrientation6RotatesClockwise) {
  // Red left / blue right, turned 90 degrees clockwise: red top, blue bottom.
  for (bool big_endian : {false, true}) {
    DecodedImage d = MustDecode(WithExifOrientation(EncodeJpeg(Split(16, 8, kRed, kBlue)), 6, big_endian));
    ASSERT_EQ(d.image.width, 8);
    ASSERT_EQ(d.image.height, 16);
    ExpectNear(At(d.image, 4, 0), {255, 0, 0}, 8, "top");
    ExpectNear(At(d.image, 4, 15), {0, 0, 255}, 8, "bottom");
  }
}

TEST(Exif, EveryOrientationMapsCorners) {
  // 2x1 source: A=(0,0) red, B=(1,0) blue. Where does A land?
  RgbImage src{2, 1, {255, 0, 0, 0, 0, 255}};
  struct Case { int orientation, w, h, ax, ay; };
  for (Case c : {Case{1, 2, 1, 0, 0}, Case{2, 2, 1, 1, 0}, Case{3, 2, 1, 1, 0}, Case{4, 2, 1, 0, 0},
                 Case{5, 1, 2, 0, 0}, Case{6, 1, 2, 0, 0}, Case{7, 1, 2, 0, 1}, Case{8, 1, 2, 0, 1}}) {
    RgbImage out = Orient(src, c.orientation);
    ASSERT_EQ(out.width, c.w) << c.orientation;
    ASSERT_EQ(out.height, c.h) << c.orientation;
    EXPECT_EQ(At(out, c.ax, c.ay).r, 255) << "orientation " << c.orientation;
  }
}

TEST(Exif, MalformedSegmentsMeanUpright) {
  const std::string jpeg = EncodeJpeg(Split(2, 1, kRed, kBlue));
  EXPECT_EQ(JpegExifOrientation(jpeg), 1);
  std::string bad = WithExifOrientation(jpeg, 6);
  for (size_t cut = 0; cut < 60; ++cut) JpegExifOrientation(bad.substr(0, cut));  // no crash
  bad[4 + 2 + 6 + 4] = 99;  // IFD0 offset points far outside the segment
  EXPECT_EQ(JpegExifOrientation(bad), 1);
  EXPECT_EQ(JpegExifOrientation(WithExifOrientation(jpeg, 9)), 1);
}

TEST(Jpeg, DecodesAtReducedDctScaleButReportsFullSize) {
  const std::string jpeg = EncodeJpeg(Split(1600, 1200, kRed, kBlue), false, 80);
  DecodedImage d = MustDecode(jpeg, /*target=*/200);
  EXPECT_EQ(d.width, 1600);
  EXPECT_EQ(d.height, 1200);
  // 1/8 would give 200x150 (short side < 200); 1/4 gives 400x300.
  EXPECT_EQ(d.image.width, 400);
  EXPECT_EQ(d.image.height, 300);
  ExpectRedLeftBlueRight(d.image, 8);
}

TEST(Webp, LossyAndLosslessWithAlpha) {
  const Rgba img = Split(16, 8, kClear, kBlue);
  DecodedImage lossless = MustDecode(EncodeWebp(img, true));
  EXPECT_EQ(lossless.format, Format::kWebp);
  ExpectNear(At(lossless.image, 0, 0), {255, 255, 255}, 0, "transparent -> white");
  ExpectNear(At(lossless.image, 15, 7), {0, 0, 255}, 0, "blue");
  DecodedImage lossy = MustDecode(EncodeWebp(Split(16, 8, kRed, kBlue), false));
  EXPECT_EQ(lossy.width, 16);
  ExpectRedLeftBlueRight(lossy.image, 40);  // 4:2:0 chroma
}

TEST(Webp, AnimatedGivesFirstFrame) {
  DecodedImage d = MustDecode(EncodeAnimatedWebp(Split(8, 8, kRed, kRed), Split(8, 8, kBlue, kBlue)));
  EXPECT_EQ(d.width, 8);
  ExpectNear(At(d.image, 7, 7), {255, 0, 0}, 0, "first frame is red");
}

TEST(Gif, FirstFrameWithTransparencyOnWhite) {
  for (bool interlaced : {false, true}) {
    DecodedImage d = MustDecode(EncodeGif(Split(10, 20, kClear, kBlue), interlaced));
    EXPECT_EQ(d.format, Format::kGif);
    EXPECT_EQ(d.width, 10);
    EXPECT_EQ(d.height, 20);
    ExpectNear(At(d.image, 0, 19), {255, 255, 255}, 0, "transparent");
    ExpectNear(At(d.image, 9, 19), {0, 0, 255}, 0, "blue");
    ExpectNear(At(d.image, 9, 0), {0, 0, 255}, 0, "blue top");
  }
}

std::vector<std::string> AllFormats() {
  const Rgba img = Split(24, 16, kRed, kBlue);
  return {EncodePng(img, PngKind::kRgb8), EncodeJpeg(img), EncodeJpeg(img, true),
          EncodeWebp(img, true), EncodeWebp(img, false), EncodeGif(img)};
}

TEST(BadInput, EmptyAndTextAreUnsupported) {
  for (std::string bytes : {std::string(), std::string("hello, world"), std::string("<svg/>")}) {
    Result<DecodedImage> r = Decode(bytes, Limits{}, 0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnsupportedImageFormat);
  }
}

TEST(BadInput, TruncatedIsInvalid) {
  for (const std::string& good : AllFormats()) {
    Result<DecodedImage> r = Decode(good.substr(0, good.size() / 2), Limits{}, 0);
    Format format{};
    image::DetectFormat(good, &format);
    ASSERT_FALSE(r.ok()) << "format " << FormatName(format);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidImage) << r.error().message;
  }
}

// Every prefix and thousands of bit flips: a typed result every time.
TEST(BadInput, PrefixesAndBitFlipsNeverCrash) {
  std::mt19937 rng(42);
  for (const std::string& good : AllFormats()) {
    for (size_t n = 0; n < good.size(); ++n) {
      Result<DecodedImage> r = Decode(good.substr(0, n), Limits{}, 0);
      if (!r.ok()) {
        EXPECT_TRUE(r.error().code == ErrorCode::kInvalidImage ||
                    r.error().code == ErrorCode::kUnsupportedImageFormat);
      }
    }
    for (int i = 0; i < 400; ++i) {
      std::string bad = good;
      bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
      Result<DecodedImage> r = Decode(bad, Limits{}, 0);
      if (r.ok()) {
        EXPECT_EQ(r->image.pixels.size(), size_t(r->image.width) * r->image.height * 3);
      } else {
        EXPECT_NE(r.error().code, ErrorCode::kInternal) << r.error().message;
      }
    }
  }
}

TEST(Limits, PixelLimitIsImageTooLarge) {
  Limits limits;
  limits.max_pixels = 24 * 16 - 1;
  for (const std::string& good : AllFormats()) {
    Result<DecodedImage> r = Decode(good, limits, 0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kImageTooLarge) << r.error().message;
  }
}

// Headers that declare billions of pixels over a few bytes of data: if any
// decoder allocated before checking, this test would die of bad_alloc.
TEST(Limits, DeclaredSizeCheckedBeforeAllocation) {
  std::string png = EncodePng(Split(4, 4, kRed, kBlue), PngKind::kRgb8);
  png.replace(16, 8, std::string("\x00\x01\x00\x00\x00\x01\x00\x00", 8));  // 65536 x 65536
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(png.data() + 12), 17);  // "IHDR" + data
  for (int i = 0; i < 4; ++i) png[29 + i] = static_cast<char>(crc >> (24 - 8 * i));
  Result<DecodedImage> p = Decode(png, Limits{}, 0);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kImageTooLarge) << p.error().message;

  std::string gif = EncodeGif(Split(4, 4, kRed, kBlue));
  gif.replace(6, 4, "\xFF\xFF\xFF\xFF");  // logical screen 65535 x 65535
  Result<DecodedImage> g = Decode(gif, Limits{}, 0);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, ErrorCode::kImageTooLarge);

  std::string jpeg = EncodeJpeg(Split(16, 16, kRed, kBlue));
  const size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpeg.replace(sof + 5, 4, std::string("\xFF\x00\xFF\x00", 4));  // 65280 x 65280
  Result<DecodedImage> j = Decode(jpeg, Limits{}, 0);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kImageTooLarge) << j.error().message;
}

TEST(Limits, ByteLimitIsPayloadTooLarge) {
  Limits limits;
  limits.max_bytes = 10;
  Result<DecodedImage> r = Decode(EncodePng(Split(4, 4, kRed, kBlue), PngKind::kRgb8), limits, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kPayloadTooLarge);
}

TEST(Resize, CoverSizeKeepsAspectAndCoversTarget) {
  EXPECT_EQ(CoverSize(4000, 3000, 896).width, 1195);
  EXPECT_EQ(CoverSize(4000, 3000, 896).height, 896);
  EXPECT_EQ(CoverSize(3000, 4000, 896).width, 896);
  EXPECT_EQ(CoverSize(3000, 4000, 896).height, 1195);
  EXPECT_EQ(CoverSize(100, 60, 64).width, 100);  // already small: unchanged
  EXPECT_EQ(CoverSize(5000, 5000, 0).width, 5000);
}

TEST(Resize, DownscaleKeepsColourOrderAndSides) {
  Result<PreparedImage> p = Prepare(EncodePng(Split(200, 100, kRed, kBlue), PngKind::kRgb8), Limits{}, 50);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->width, 200);
  EXPECT_EQ(p->height, 100);
  EXPECT_EQ(p->model.width, 100);
  EXPECT_EQ(p->model.height, 50);
  ExpectNear(At(p->model, 0, 0), {255, 0, 0}, 0, "left stays red");
  ExpectNear(At(p->model, 49, 25), {255, 0, 0}, 0, "left half red");
  ExpectNear(At(p->model, 50, 25), {0, 0, 255}, 0, "right half blue");
  ExpectNear(At(p->model, 99, 49), {0, 0, 255}, 0, "right stays blue");
}

TEST(Resize, BoxFilterAverages) {
  RgbImage src{2, 1, {0, 0, 0, 255, 255, 255}};
  RgbImage out = Downscale(src, {1, 1});
  ExpectNear(At(out, 0, 0), {128, 128, 128}, 1, "mean");
}

}  // namespace
}  // namespace vigil::imaging
