// Fuzzes the chat-template interpreter (chat_template.h): any bytes as a
// template must parse or fail with an error, and a parsed one must render a
// small conversation or fail with an error; never crash, hang or overflow.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "worker/chat_template/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // templates are small; keeps runs fast
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  auto tmpl = vigil::worker::chat_template::ChatTemplate::Parse(source);
  if (!tmpl.ok()) return 0;
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "sys"},
                 {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi é"}]},
                 {"role": "assistant", "content": "ok"}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})");
  (void)tmpl->Render(ctx);
  return 0;
}
