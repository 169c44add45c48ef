// libFuzzer target: the JSON request bodies of /analyze and
// /v1/chat/completions (strict JSON, then validation).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "front/job_request.h"
#include "front/json_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  vigil::front::ParseOptions opts;
  opts.allow_fault = size % 2 == 0;
  (void)vigil::front::ParseJsonBody(in, 32);
  (void)vigil::front::ParseAnalyzeJson(in, opts);
  auto chat = vigil::front::ParseChatRequest(in, opts);
  if (chat.ok() && chat->spec.params.max_tokens > opts.limits.max_tokens) __builtin_trap();
  (void)vigil::front::ParseFaultText(in);
  return 0;
}
