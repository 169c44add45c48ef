// Per-format header readers behind SniffImage (header_readers.h): PNG, JPEG,
// WebP, GIF and BMP. Each walks only the header and chunk/marker structure.
#include "image/header_readers.h"

#include <array>
#include <optional>

namespace vigil::image::internal {
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

struct Dims {
  int64_t w = 0, h = 0;
};

// Reads the size a bare VP8 / VP8L bitstream declares; payload starts at at.
Result<Dims> ReadBitstream(std::string_view b, std::string_view fourcc, size_t at, size_t len) {
  if (fourcc == "VP8 ") {
    if (len < 10) return Invalid("webp", "short VP8 chunk");
    if (uint8_t(b[at]) & 1) return Invalid("webp", "VP8 data is not a key frame");
    if (b.substr(at + 3, 3) != "\x9d\x01\x2a") return Invalid("webp", "bad VP8 start code");
    return Dims{Le16(b, at + 6) & 0x3fff, Le16(b, at + 8) & 0x3fff};
  }
  if (len < 5) return Invalid("webp", "short VP8L chunk");
  if (uint8_t(b[at]) != 0x2f) return Invalid("webp", "bad VP8L signature");
  const uint32_t bits = Le32(b, at + 1);
  if (bits >> 29) return Invalid("webp", "unknown VP8L version");
  return Dims{(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
}

// Walks the chunks after VP8X: there must be image data, and a still
// image's bitstream must agree with the canvas (a mismatch is a lying header).
Status CheckExtended(std::string_view b, size_t pos, size_t end, Info& info) {
  bool image = false;
  while (pos + 8 <= end) {
    const std::string_view fourcc = b.substr(pos, 4);
    const size_t len = Le32(b, pos + 4);
    if (len > end - pos - 8) return Invalid("webp", "truncated chunk");
    if (fourcc == "ANMF") {
      if (len < 16) return Invalid("webp", "short ANMF chunk");
      const int64_t x = 2 * int64_t(Le24(b, pos + 8)), y = 2 * int64_t(Le24(b, pos + 11));
      const int64_t w = Le24(b, pos + 14) + 1, h = Le24(b, pos + 17) + 1;
      if (x + w > info.width || y + h > info.height) return Invalid("webp", "frame outside the canvas");
      image = true;
    } else if (fourcc == "VP8 " || fourcc == "VP8L") {
      auto dims = ReadBitstream(b, fourcc, pos + 8, len);
      if (!dims.ok()) return dims.error();
      if (!info.animated && (dims->w != info.width || dims->h != info.height)) {
        return Invalid("webp", "canvas " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                                   " differs from the bitstream's " + std::to_string(dims->w) + "x" +
                                   std::to_string(dims->h));
      }
      image = true;
    }
    pos += 8 + len + (len & 1);
  }
  if (!image) return Invalid("webp", "no image data");
  return OkStatus();
}

Status SkipSubBlocks(std::string_view b, size_t& pos) {
  while (true) {
    if (pos >= b.size()) return Invalid("gif", "truncated data sub-block");
    const size_t n = uint8_t(b[pos++]);
    if (n == 0) return OkStatus();
    pos += n;
  }
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

Result<Info> ReadWebp(std::string_view b) {
  if (b.size() < 20) return Invalid("webp", "truncated header");
  const size_t riff = Le32(b, 4);
  if (riff < 12 || riff > b.size() - 8) return Invalid("webp", "truncated (RIFF size " + std::to_string(riff) + ")");
  const size_t end = 8 + riff;
  const std::string_view fourcc = b.substr(12, 4);
  const size_t len = Le32(b, 16);
  if (len > end - 20) return Invalid("webp", "truncated first chunk");
  if (fourcc == "VP8 " || fourcc == "VP8L") {
    auto dims = ReadBitstream(b, fourcc, 20, len);
    if (!dims.ok()) return dims.error();
    return Info{Format::kWebp, dims->w, dims->h, false};
  }
  if (fourcc != "VP8X") return Invalid("webp", "unknown first chunk");
  if (len < 10) return Invalid("webp", "short VP8X chunk");
  Info info{Format::kWebp, Le24(b, 24) + 1, Le24(b, 27) + 1, (uint8_t(b[20]) & 0x02) != 0};
  auto status = CheckExtended(b, 20 + len + (len & 1), end, info);
  if (!status.ok()) return status.error();
  return info;
}

Result<Info> ReadGif(std::string_view b, int64_t max_pixels) {
  if (b.size() < 13) return Invalid("gif", "truncated header");
  Info info{Format::kGif, Le16(b, 6), Le16(b, 8), false};
  const int flags = uint8_t(b[10]);
  size_t pos = 13 + ((flags & 0x80) ? 3u * (2u << (flags & 7)) : 0u);
  int frames = 0;
  while (true) {
    if (pos >= b.size()) return Invalid("gif", "truncated (no trailer)");
    const int block = uint8_t(b[pos++]);
    if (block == 0x3b) break;
    if (block == 0x21) {
      ++pos;  // extension label
      if (auto s = SkipSubBlocks(b, pos); !s.ok()) return s.error();
    } else if (block == 0x2c) {
      if (pos + 10 > b.size()) return Invalid("gif", "truncated image descriptor");
      const int64_t w = Le16(b, pos + 4), h = Le16(b, pos + 6);
      // A frame can be larger than the logical screen; a decoder allocates
      // for it, so the pixel limit applies to each frame too.
      if (w == 0 || h == 0) return Invalid("gif", "frame of size 0");
      if (w * h > max_pixels) {
        return MakeError(ErrorCode::kImageTooLarge,
                         "gif frame declares " + std::to_string(w) + "x" + std::to_string(h) +
                             " pixels; the limit is " + std::to_string(max_pixels) + " (--max-image-pixels)");
      }
      const int local = uint8_t(b[pos + 8]);
      pos += 9 + ((local & 0x80) ? 3u * (2u << (local & 7)) : 0u);
      ++pos;  // LZW minimum code size
      if (auto s = SkipSubBlocks(b, pos); !s.ok()) return s.error();
      ++frames;
    } else {
      return Invalid("gif", "unknown block type " + std::to_string(block));
    }
  }
  if (frames == 0) return Invalid("gif", "no image frame");
  info.animated = frames > 1;
  return info;
}

Result<Info> ReadBmp(std::string_view b) {
  if (b.size() < 26) return Invalid("bmp", "truncated header");
  const uint32_t dib = Le32(b, 14);
  Info info{Format::kBmp, 0, 0, false};
  if (dib == 12) {
    info.width = Le16(b, 18);
    info.height = Le16(b, 20);
  } else if (dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 || dib == 124) {
    if (b.size() < 14 + size_t(dib)) return Invalid("bmp", "truncated info header");
    info.width = int32_t(Le32(b, 18));
    const int64_t h = int32_t(Le32(b, 22));
    info.height = h < 0 ? -h : h;  // negative height: rows stored top-down
  } else {
    return Invalid("bmp", "unknown info header size " + std::to_string(dib));
  }
  if (Le32(b, 10) >= b.size()) return Invalid("bmp", "pixel data offset past the end");
  return info;
}

}  // namespace vigil::image::internal
