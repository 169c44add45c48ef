// chat_template.h: renders a model's chat template (the Jinja text a GGUF
// stores as tokenizer.chat_template) the way Hugging Face transformers does:
// jinja2 with trim_blocks and lstrip_blocks, the loop-control extension,
// raise_exception, strftime_now and transformers' tojson.
//
// Why vigil has its own interpreter: no Jinja engine for C++ is packaged in
// Debian, and libllama's headers do not expose the one llama-server uses
// (it lives in libllama-common, whose headers Debian does not ship). This is
// the subset chat templates use: text, {{ }}, {# #}, whitespace control,
// if/elif/else, for (with loop.*, else, inline if, break/continue), set (also
// namespace attributes and block set), macro, generation, raw; Python-like
// values, operators, string and dict methods, and jinja2's common filters
// and tests. Anything else (include, extends, call blocks, recursive loops,
// unknown filters or tests) is an error at Parse naming the construct and
// its line; an error while rendering (raise_exception, undefined attribute)
// is an error from Render. Neither crashes: inputs are bounded (output 16
// MiB, range 100k items, nesting 256).
//
// tests/unit/worker/chat_template_test.cc covers the constructs; the
// differential test (tests/chat_templates/) compares byte for byte with
// python3-jinja2 over the major VLM families' templates.
//
// Thread-safety: a parsed template is immutable; Render may run on any
// number of threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vigil::worker::chat_template {

struct Node;

class ChatTemplate {
 public:
  // Errors: kInvalidRequest, "chat template: line N: unsupported tag 'include'".
  static Result<ChatTemplate> Parse(std::string_view source);
  // Renders with `context`'s keys as the template's variables (messages,
  // add_generation_prompt, bos_token, eos_token, ...). Errors:
  // kInvalidRequest naming the line and the failure.
  Result<std::string> Render(const nlohmann::ordered_json& context) const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<Node>>> body_;
};

}  // namespace vigil::worker::chat_template
