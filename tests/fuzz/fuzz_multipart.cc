// libFuzzer target: the multipart/form-data parser and the /analyze
// multipart path. The first line of the input is the Content-Type.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "front/job_request.h"
#include "front/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view ctype = in.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  if (auto boundary = vigil::front::MultipartBoundary(ctype); boundary.ok()) {
    auto parts = vigil::front::ParseMultipart(body, *boundary, 16);
    if (parts.ok()) {
      for (const auto& p : *parts) {
        if (p.data.data() < body.data() || p.data.data() + p.data.size() > body.data() + body.size()) __builtin_trap();
      }
    }
  }
  (void)vigil::front::ParseAnalyzeMultipart(ctype, body, vigil::front::ParseOptions{{}, true});
  return 0;
}
