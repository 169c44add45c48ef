#include "image/sniff.h"

#include "image/header_readers.h"

namespace vigil::image {

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kPng: return "png";
    case Format::kJpeg: return "jpeg";
    case Format::kWebp: return "webp";
    case Format::kGif: return "gif";
    case Format::kBmp: return "bmp";
  }
  return "unknown";
}

bool DetectFormat(std::string_view b, Format* format) {
  if (b.starts_with("\x89PNG\r\n\x1a\n")) *format = Format::kPng;
  else if (b.starts_with("\xff\xd8\xff")) *format = Format::kJpeg;
  else if (b.size() >= 12 && b.starts_with("RIFF") && b.substr(8, 4) == "WEBP") *format = Format::kWebp;
  else if (b.starts_with("GIF87a") || b.starts_with("GIF89a")) *format = Format::kGif;
  else if (b.starts_with("BM")) *format = Format::kBmp;
  else return false;
  return true;
}

Result<Info> SniffImage(std::string_view b, const SniffLimits& limits) {
  Format format;
  if (b.empty()) return MakeError(ErrorCode::kInvalidImage, "the image is empty (0 bytes)");
  if (!DetectFormat(b, &format)) {
    return MakeError(ErrorCode::kUnsupportedImageFormat,
                     "unrecognised image format; supported: png, jpeg, webp, gif");
  }
  if (format == Format::kBmp && !limits.allow_bmp) {
    return MakeError(ErrorCode::kUnsupportedImageFormat,
                     "bmp images are recognised but not supported; send png, jpeg, webp or gif");
  }
  Result<Info> info = [&]() -> Result<Info> {
    switch (format) {
      case Format::kPng: return internal::ReadPng(b);
      case Format::kJpeg: return internal::ReadJpeg(b);
      case Format::kWebp: return internal::ReadWebp(b);
      case Format::kGif: return internal::ReadGif(b, limits.max_pixels);
      case Format::kBmp: return internal::ReadBmp(b);
    }
    return MakeError(ErrorCode::kInternal, "unreachable");
  }();
  if (!info.ok()) return info;
  const std::string dims = std::to_string(info->width) + "x" + std::to_string(info->height);
  const std::string name(FormatName(format));
  if (info->width <= 0 || info->height <= 0 || info->width > kMaxSide || info->height > kMaxSide) {
    return MakeError(ErrorCode::kInvalidImage, "invalid " + name + " image: declared size " + dims);
  }
  const int64_t pixels = info->width * info->height;
  if (pixels > limits.max_pixels) {
    return MakeError(ErrorCode::kImageTooLarge,
                     name + " image declares " + dims + " = " + std::to_string(pixels) +
                         " pixels; the limit is " + std::to_string(limits.max_pixels) +
                         " (--max-image-pixels)");
  }
  return info;
}

}  // namespace vigil::image
