// codecs.h: the per-format decoders behind imaging::Decode. Internal to
// src/worker/imaging; callers use image.h.
//
// Each decoder checks the declared dimensions against limits.max_pixels
// before allocating, and returns kInvalidImage for anything corrupt. Output
// follows image.h: RGB8, upright, alpha composited on white.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "worker/imaging/image.h"

namespace vigil::imaging::internal {

struct CodecOutput {
  int width = 0;  // full upright size
  int height = 0;
  RgbImage image;
};

Result<CodecOutput> DecodeJpeg(std::string_view bytes, const Limits& limits, int target_side);
Result<CodecOutput> DecodePng(std::string_view bytes, const Limits& limits);
Result<CodecOutput> DecodeWebp(std::string_view bytes, const Limits& limits);
Result<CodecOutput> DecodeGif(std::string_view bytes, const Limits& limits);

// Shared helpers.
Error Invalid(std::string_view format, std::string_view why);
// kImageTooLarge if width*height > limits; kInvalidImage if a side is < 1.
Status CheckDimensions(std::string_view format, int64_t width, int64_t height,
                       const Limits& limits);
// Composites straight (non-premultiplied) RGBA on white into RGB.
RgbImage CompositeOnWhite(int width, int height, const uint8_t* rgba);

}  // namespace vigil::imaging::internal
