// libFuzzer target: the worker's hand-written EXIF reader on arbitrary bytes
// (a JPEG's APP1 segment comes straight from the client). It must never
// crash or read out of bounds, and must answer an orientation in 1..8.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "worker/imaging/exif.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const int orientation = vigil::imaging::JpegExifOrientation(bytes);
  if (orientation < 1 || orientation > 8) __builtin_trap();
  return 0;
}
