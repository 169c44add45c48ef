#include <algorithm>
#include <cstring>
#include <string>

#include "worker/imaging/codecs.h"
#include "worker/imaging/image.h"

namespace vigil::imaging {

namespace internal {

Error Invalid(std::string_view format, std::string_view why) {
  return MakeError(ErrorCode::kInvalidImage,
                   std::string(format) + " image is corrupt or truncated: " + std::string(why));
}

Status CheckDimensions(std::string_view format, int64_t width, int64_t height,
                       const Limits& limits) {
  if (width < 1 || height < 1) return Invalid(format, "zero width or height");
  if (width > limits.max_pixels / height) {
    return MakeError(ErrorCode::kImageTooLarge,
                     std::string(format) + " image is " + std::to_string(width) + "x" +
                         std::to_string(height) + " pixels; the limit is " +
                         std::to_string(limits.max_pixels) + " pixels");
  }
  return OkStatus();
}

RgbImage CompositeOnWhite(int width, int height, const uint8_t* rgba) {
  RgbImage out;
  out.width = width;
  out.height = height;
  const size_t n = size_t(width) * size_t(height);
  out.pixels.resize(n * 3);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t a = rgba[i * 4 + 3];
    for (int c = 0; c < 3; ++c) {
      // c*a + 255*(255-a), over 255, rounded.
      const uint32_t v = rgba[i * 4 + c] * a + 255u * (255u - a);
      out.pixels[i * 3 + c] = static_cast<uint8_t>((v + 127) / 255);
    }
  }
  return out;
}

}  // namespace internal

Result<DecodedImage> Decode(std::string_view bytes, const Limits& limits, int target_side) {
  if (bytes.size() > limits.max_bytes) {
    return MakeError(ErrorCode::kPayloadTooLarge,
                     "image is " + std::to_string(bytes.size()) + " bytes; the limit is " +
                         std::to_string(limits.max_bytes));
  }
  Format format;
  if (!image::DetectFormat(bytes, &format) || format == Format::kBmp) {
    return MakeError(ErrorCode::kUnsupportedImageFormat,
                     bytes.empty() ? "image is empty"
                                   : "image is not JPEG, PNG, WebP or GIF (by its magic bytes)");
  }
  Result<internal::CodecOutput> out = MakeError(ErrorCode::kInternal, "unreachable");
  switch (format) {
    case Format::kJpeg: out = internal::DecodeJpeg(bytes, limits, target_side); break;
    case Format::kPng: out = internal::DecodePng(bytes, limits); break;
    case Format::kWebp: out = internal::DecodeWebp(bytes, limits); break;
    case Format::kGif: out = internal::DecodeGif(bytes, limits); break;
    case Format::kBmp: break;  // refused above
  }
  if (!out) return out.error();
  DecodedImage d;
  d.format = format;
  d.width = out->width;
  d.height = out->height;
  d.image = std::move(out->image);
  return d;
}

Result<PreparedImage> Prepare(std::string_view bytes, const Limits& limits, int target_side) {
  Result<DecodedImage> decoded = Decode(bytes, limits, target_side);
  if (!decoded) return decoded.error();
  PreparedImage p;
  p.format = decoded->format;
  p.width = decoded->width;
  p.height = decoded->height;
  const Size size = CoverSize(decoded->image.width, decoded->image.height, target_side);
  if (size.width == decoded->image.width && size.height == decoded->image.height) {
    p.model = std::move(decoded->image);
  } else {
    p.model = Downscale(decoded->image, size);
  }
  return p;
}

}  // namespace vigil::imaging
