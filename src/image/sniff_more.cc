// WebP, GIF and BMP header readers (see sniff_parts.h).
#include "image/sniff_parts.h"

namespace vigil::image::internal {
namespace {

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
