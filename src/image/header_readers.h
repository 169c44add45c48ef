// header_readers.h: per-format header readers behind SniffImage (internal;
// header_readers.cc).
//
// Each reader gets bytes whose magic already matched and returns the declared
// canvas size, or kInvalidImage naming what is wrong. Readers check every
// offset against the buffer (fuzzed by tests/fuzz/fuzz_sniff.cc). Pixel limits
// are applied by SniffImage, except for per-frame sizes a reader sees
// (GIF frames), which it checks against max_pixels itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "image/sniff.h"

namespace vigil::image::internal {

inline uint32_t Be16(std::string_view b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 8) | uint8_t(b[at + 1]);
}
inline uint32_t Be32(std::string_view b, size_t at) {
  return (Be16(b, at) << 16) | Be16(b, at + 2);
}
inline uint32_t Le16(std::string_view b, size_t at) {
  return uint8_t(b[at]) | (uint32_t(uint8_t(b[at + 1])) << 8);
}
inline uint32_t Le24(std::string_view b, size_t at) {
  return Le16(b, at) | (uint32_t(uint8_t(b[at + 2])) << 16);
}
inline uint32_t Le32(std::string_view b, size_t at) {
  return Le16(b, at) | (Le16(b, at + 2) << 16);
}

inline Error Invalid(std::string_view format, const std::string& why) {
  return MakeError(ErrorCode::kInvalidImage,
                   "invalid " + std::string(format) + " image: " + why);
}

Result<Info> ReadPng(std::string_view b);
Result<Info> ReadJpeg(std::string_view b);
Result<Info> ReadWebp(std::string_view b);
Result<Info> ReadGif(std::string_view b, int64_t max_pixels);
Result<Info> ReadBmp(std::string_view b);

}  // namespace vigil::image::internal
