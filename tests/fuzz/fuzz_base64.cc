// libFuzzer target: base64 and data: URI decoding. Decoding must never
// crash, and whatever decodes must re-encode to itself (canonical form).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "front/base64.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto d = vigil::front::DecodeBase64(in)) {
    auto again = vigil::front::DecodeBase64(vigil::front::EncodeBase64(*d));
    if (!again || *again != *d) __builtin_trap();
  }
  auto e = vigil::front::EncodeBase64(in);
  auto back = vigil::front::DecodeBase64(e);
  if (!back || *back != in) __builtin_trap();
  (void)vigil::front::ParseDataUri(in);
  (void)vigil::front::DecodeImageField(in);
  return 0;
}
