#include "worker/imaging/exif.h"

#include <cstdint>
#include <cstring>
#include <optional>

namespace vigil::imaging {
namespace {

// A bounds-checked view of the TIFF structure inside an Exif segment.
class TiffReader {
 public:
  TiffReader(std::string_view data, bool little_endian) : data_(data), le_(little_endian) {}

  std::optional<uint16_t> U16(size_t off) const {
    if (off > data_.size() || data_.size() - off < 2) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(data_.data() + off);
    return static_cast<uint16_t>(le_ ? p[0] | (p[1] << 8) : (p[0] << 8) | p[1]);
  }
  std::optional<uint32_t> U32(size_t off) const {
    auto a = U16(off), b = U16(off + 2);
    if (!a || !b) return std::nullopt;
    return le_ ? (uint32_t{*b} << 16) | *a : (uint32_t{*a} << 16) | *b;
  }

 private:
  std::string_view data_;
  bool le_;
};

// Orientation from a TIFF header + IFD0 (the bytes after "Exif\0\0").
int OrientationFromTiff(std::string_view tiff) {
  if (tiff.size() < 8) return 1;
  bool le;
  if (tiff.substr(0, 2) == "II") {
    le = true;
  } else if (tiff.substr(0, 2) == "MM") {
    le = false;
  } else {
    return 1;
  }
  TiffReader r(tiff, le);
  if (r.U16(2) != 42) return 1;
  auto ifd = r.U32(4);
  if (!ifd) return 1;
  auto count = r.U16(*ifd);
  if (!count) return 1;
  for (uint32_t i = 0; i < *count; ++i) {
    const size_t entry = size_t{*ifd} + 2 + 12 * size_t{i};
    auto tag = r.U16(entry);
    if (!tag) return 1;
    if (*tag != 0x0112) continue;
    auto type = r.U16(entry + 2);
    auto value = r.U16(entry + 8);  // a SHORT sits in the first 2 value bytes
    if (type != 3 || !value || *value < 1 || *value > 8) return 1;
    return *value;
  }
  return 1;
}

}  // namespace

int JpegExifOrientation(std::string_view jpeg) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(jpeg[i]); };
  if (jpeg.size() < 4 || byte(0) != 0xFF || byte(1) != 0xD8) return 1;
  size_t pos = 2;
  // Walk the marker segments up to the first scan; APPn come before it.
  while (pos + 4 <= jpeg.size()) {
    if (byte(pos) != 0xFF) return 1;
    const unsigned char marker = byte(pos + 1);
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // start of scan / end of image
    const size_t len = (size_t{byte(pos + 2)} << 8) | byte(pos + 3);
    if (len < 2 || pos + 2 + len > jpeg.size()) return 1;
    std::string_view body = jpeg.substr(pos + 4, len - 2);
    if (marker == 0xE1 && body.size() >= 6 && std::memcmp(body.data(), "Exif\0\0", 6) == 0) {
      return OrientationFromTiff(body.substr(6));
    }
    pos += 2 + len;
  }
  return 1;
}

RgbImage Orient(RgbImage image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const int w = image.width, h = image.height;
  const bool swap = orientation >= 5;
  RgbImage out;
  out.width = swap ? h : w;
  out.height = swap ? w : h;
  out.pixels.resize(image.pixels.size());
  for (int y2 = 0; y2 < out.height; ++y2) {
    for (int x2 = 0; x2 < out.width; ++x2) {
      int x = x2, y = y2;  // source pixel for output (x2, y2)
      switch (orientation) {
        case 2: x = w - 1 - x2; break;                     // mirror horizontal
        case 3: x = w - 1 - x2; y = h - 1 - y2; break;     // rotate 180
        case 4: y = h - 1 - y2; break;                     // mirror vertical
        case 5: x = y2; y = x2; break;                     // transpose
        case 6: x = y2; y = h - 1 - x2; break;             // rotate 90 CW
        case 7: x = w - 1 - y2; y = h - 1 - x2; break;     // transverse
        case 8: x = w - 1 - y2; y = x2; break;             // rotate 90 CCW
      }
      const uint8_t* src = &image.pixels[(size_t{static_cast<size_t>(y)} * w + x) * 3];
      uint8_t* dst = &out.pixels[(size_t{static_cast<size_t>(y2)} * out.width + x2) * 3];
      dst[0] = src[0];
      dst[1] = src[1];
      dst[2] = src[2];
    }
  }
  return out;
}

}  // namespace vigil::imaging
