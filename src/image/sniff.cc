#include "image/sniff.h"

#include <array>
#include <optional>

#include "image/sniff_parts.h"

namespace vigil::image {
namespace internal {
namespace {

uint32_t Crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (unsigned char ch : data) c = table[(c ^ ch) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

bool ValidPngDepth(int color, int depth) {
  switch (color) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return false;
  }
}

bool IsSof(int m) {
  // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
  return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

}  // namespace

Result<Info> ReadPng(std::string_view b) {
  // signature(8) + IHDR length(4) + type(4) + data(13) + crc(4)
  if (b.size() < 33) return Invalid("png", "truncated before the end of IHDR");
  if (Be32(b, 8) != 13 || b.substr(12, 4) != "IHDR") return Invalid("png", "first chunk is not IHDR");
  if (Crc32(b.substr(12, 17)) != Be32(b, 29)) return Invalid("png", "IHDR checksum mismatch");
  Info info{Format::kPng, Be32(b, 16), Be32(b, 20), false};
  const int depth = uint8_t(b[24]), color = uint8_t(b[25]);
  if (!ValidPngDepth(color, depth)) {
    return Invalid("png", "bit depth " + std::to_string(depth) + " with color type " +
                              std::to_string(color));
  }
  if (b[26] != 0 || b[27] != 0 || uint8_t(b[28]) > 1) return Invalid("png", "bad IHDR method byte");
  // Walk the chunk chain (lengths only) so a truncated file is caught here
  // rather than by a decoder in a worker.
  bool idat = false;
  size_t pos = 33;
  while (true) {
    if (pos + 12 > b.size()) return Invalid("png", "truncated (no IEND chunk)");
    const uint32_t len = Be32(b, pos);
    if (len > 0x7fffffffu || len > b.size() - pos - 12) return Invalid("png", "truncated chunk");
    const std::string_view type = b.substr(pos + 4, 4);
    for (char c : type) {
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return Invalid("png", "bad chunk type");
    }
    if (type == "IDAT") idat = true;
    if (type == "acTL") info.animated = true;
    if (type == "IHDR") return Invalid("png", "second IHDR chunk");
    if (type == "IEND") break;
    pos += 12 + len;
  }
  if (!idat) return Invalid("png", "no IDAT chunk");
  return info;
}

Result<Info> ReadJpeg(std::string_view b) {
  size_t pos = 2;
  std::optional<Info> frame;
  while (true) {
    if (pos + 2 > b.size()) return Invalid("jpeg", "truncated in the marker chain");
    if (uint8_t(b[pos]) != 0xff) return Invalid("jpeg", "expected a marker at byte " + std::to_string(pos));
    while (pos < b.size() && uint8_t(b[pos]) == 0xff) ++pos;  // fill bytes
    if (pos >= b.size()) return Invalid("jpeg", "truncated in the marker chain");
    const int m = uint8_t(b[pos++]);
    if ((m >= 0xd0 && m <= 0xd7) || m == 0x01) continue;  // no length field
    if (m == 0xd8 || m == 0xd9 || m == 0x00) return Invalid("jpeg", "unexpected marker before the scan");
    if (pos + 2 > b.size()) return Invalid("jpeg", "truncated segment length");
    const size_t len = Be16(b, pos);
    if (len < 2 || pos + len > b.size()) return Invalid("jpeg", "truncated segment");
    if (IsSof(m)) {
      if (frame) return Invalid("jpeg", "two frame headers");
      if (len < 8) return Invalid("jpeg", "short frame header");
      const int components = uint8_t(b[pos + 7]);
      if (components < 1 || components > 4 || len < 8 + 3 * size_t(components)) {
        return Invalid("jpeg", "bad component count " + std::to_string(components));
      }
      frame = Info{Format::kJpeg, Be16(b, pos + 5), Be16(b, pos + 3), false};
      if (frame->height == 0) return Invalid("jpeg", "height 0 (DNL) is not supported");
    }
    if (m == 0xda) {
      if (!frame) return Invalid("jpeg", "scan before any frame header");
      break;
    }
    pos += len;
  }
  // Entropy-coded data follows; its end is the EOI marker. A file without one
  // after the first scan was cut short.
  const size_t eoi = b.rfind("\xff\xd9");
  if (eoi == std::string_view::npos || eoi < pos) return Invalid("jpeg", "truncated (no EOI marker)");
  return *frame;
}

}  // namespace internal

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
