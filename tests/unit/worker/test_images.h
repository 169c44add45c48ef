// test_images.h: encoders for the worker's tests, so every test image is made
// in the test itself from known pixels (no binary fixtures to trust).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vigil::testing {

// Straight RGBA pixels, row-major.
struct Rgba {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> px;  // width * height * 4
};

// A left/right split: left half `left`, right half `right` (RGBA each).
Rgba Split(int width, int height, uint32_t left_rgba, uint32_t right_rgba);

enum class PngKind { kRgb8, kRgba8, kRgb16, kPalette, kGrayAlpha8 };
std::string EncodePng(const Rgba& image, PngKind kind, bool interlaced = false);
std::string EncodeJpeg(const Rgba& image, bool progressive = false, int quality = 95);
// A CMYK JPEG (Adobe convention: inverted inks, as Photoshop writes them) of `image`.
std::string EncodeCmykJpeg(const Rgba& image);
// Inserts an APP1 Exif segment with IFD0 Orientation = `orientation`.
std::string WithExifOrientation(const std::string& jpeg, int orientation, bool big_endian = false);
std::string EncodeWebp(const Rgba& image, bool lossless);
std::string EncodeAnimatedWebp(const Rgba& first, const Rgba& second);
// Index 0 is transparent when `transparent_white` (pixels with alpha 0 use it).
std::string EncodeGif(const Rgba& image, bool interlaced = false);

}  // namespace vigil::testing
