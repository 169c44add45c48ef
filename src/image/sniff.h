// sniff.h: identify an image by its bytes and read its declared size,
// without decoding it.
//
// The supervisor links no image library (the build wall), yet it must turn
// away bad images before a worker risks its life on them. SniffImage reads
// only magic bytes and headers: PNG IHDR (CRC-checked) and the chunk chain,
// the JPEG marker chain up to SOFn, the WebP RIFF chunks (VP8, VP8L, VP8X),
// the GIF logical screen and block chain, the BMP info header
// (header_readers.cc). It never
// allocates in proportion to the declared dimensions.
//
// Errors (all typed, mapped to HTTP by common/error.h):
//   kUnsupportedImageFormat  no known magic, or a format the worker cannot
//                            decode (BMP unless allow_bmp)
//   kInvalidImage            known magic but truncated, lying or zero/absurd
//                            dimensions
//   kImageTooLarge           width*height (of the canvas or any GIF frame)
//                            over max_pixels
// Messages name the format, the dimensions and the limit.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace vigil::image {

enum class Format { kPng, kJpeg, kWebp, kGif, kBmp };
std::string_view FormatName(Format format);  // "png", "jpeg", ...

struct Info {
  Format format = Format::kPng;
  int64_t width = 0;
  int64_t height = 0;
  bool animated = false;  // APNG, animated GIF or WebP
};

struct SniffLimits {
  int64_t max_pixels = 50'000'000;
  bool allow_bmp = false;  // the worker's decoder set decides (src/worker/imaging)
};

// Largest side any supported format can legally declare (PNG: 2^31-1).
inline constexpr int64_t kMaxSide = 0x7fffffff;

Result<Info> SniffImage(std::string_view bytes, const SniffLimits& limits = {});

// Format-only detection by magic bytes; false if unknown. Never fails otherwise.
// The worker's decoder picks its codec with it too (worker/imaging/image.h).
bool DetectFormat(std::string_view bytes, Format* format);

}  // namespace vigil::image
