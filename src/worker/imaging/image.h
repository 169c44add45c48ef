// image.h: turns untrusted encoded image bytes into the RGB8 pixels a vision
// encoder takes. This directory is the only image-decoding code in vigil; it
// runs only inside the disposable worker process, so a decoder bug costs a
// worker, never the supervisor.
//
// Contract:
// - The format is chosen by magic bytes, never by a name or a MIME type.
//   JPEG (libturbojpeg), PNG (libpng), WebP (libwebp), GIF (giflib).
// - Limits are checked before any pixel buffer is allocated: the byte size
//   first, then the dimensions the header declares.
// - Errors are typed values, never crashes, never exits:
//     kUnsupportedImageFormat  bytes are none of the four formats
//     kInvalidImage            recognised format, but corrupt or truncated
//     kImageTooLarge           declared width*height over limits.max_pixels
//     kPayloadTooLarge         more bytes than limits.max_bytes
// - Output is always 8-bit RGB, row-major, no padding, upright (JPEG EXIF
//   orientation applied), alpha composited on white, first frame only.
//
// Thread-safety: all functions are reentrant; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "image/sniff.h"

namespace vigil::imaging {

// One list of formats and one magic-byte check on both sides of the wall:
// the supervisor's sniffer (image/sniff.h) validates a request with them,
// and Decode picks its codec with the same DetectFormat. kBmp is recognised
// there but has no decoder here (kUnsupportedImageFormat).
using image::Format;
using image::FormatName;

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes, RGBRGB...
};

struct Limits {
  int64_t max_pixels = 50'000'000;
  size_t max_bytes = 64u << 20;
};

struct DecodedImage {
  Format format = Format::kPng;
  // Full size as the user sees it (after EXIF orientation), even when the
  // decoder produced fewer pixels (JPEG DCT scaling).
  int width = 0;
  int height = 0;
  RgbImage image;  // what was decoded: upright, maybe reduced
};

// Decodes `bytes`. `target_side` is the side the model's encoder wants (0:
// decode at full size); a JPEG may then decode at a reduced DCT scale, never
// below what CoverSize(width, height, target_side) needs.
Result<DecodedImage> Decode(std::string_view bytes, const Limits& limits, int target_side);

struct Size {
  int width = 0;
  int height = 0;
};

// The smallest size with the aspect ratio of (width, height) whose shorter
// side is still >= target_side; (width, height) itself when it is already
// that small or target_side <= 0. Why cover and not fit-inside: encoders such
// as Gemma 3's SigLIP stretch the picture to a square; fitting the longer side
// would throw away detail along the shorter side that the encoder then
// upsamples back. Covering keeps every pixel the encoder can use.
Size CoverSize(int width, int height, int target_side);

// Area-average (box filter) downscale. REQUIRES: 0 < size <= source size.
RgbImage Downscale(const RgbImage& source, Size size);

struct PreparedImage {
  Format format = Format::kPng;
  int width = 0;   // original, upright
  int height = 0;
  RgbImage model;  // what the encoder gets
};

// Decode, then Downscale to CoverSize(..., target_side).
Result<PreparedImage> Prepare(std::string_view bytes, const Limits& limits, int target_side);

}  // namespace vigil::imaging
