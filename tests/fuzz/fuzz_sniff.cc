// libFuzzer target: image::SniffImage on arbitrary bytes. It must never
// crash, read out of bounds or accept dimensions it did not check.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "image/sniff.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (bool bmp : {false, true}) {
    auto r = vigil::image::SniffImage(bytes, {50'000'000, bmp});
    if (r.ok() && (r->width <= 0 || r->height <= 0 || r->width * r->height > 50'000'000)) __builtin_trap();
  }
  return 0;
}
