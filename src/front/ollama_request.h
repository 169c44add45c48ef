// ollama_request.h: Ollama's /api/chat and /api/generate bodies (Ollama's
// docs/api.md) turned into the same validated JobRequest the other inference
// routes build, with the same checks (job_request.h).
//
// Mapping: "images" are raw base64 (a data: URI is accepted too); on /api/chat
// each message's images come before its text in that turn; on
// /api/generate "system" becomes a system turn. "options" map to the
// sampling parameters: num_predict (-1, -2: the server's ceiling), temperature,
// top_p, top_k, seed, stop; Ollama's other options (num_ctx, repeat_penalty,
// mirostat, ...) are accepted and ignored, as are format, keep_alive,
// template, context, raw, think, tools. "stream" defaults to true.
// An empty message list (chat) or an empty prompt without images (generate)
// is Ollama's "load the model" request: `load_only` is set and no job is
// built.
//
// Errors: kInvalidRequest (field names in the message), the image codes,
// kPayloadTooLarge; the caller checks the model name.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "front/job_request.h"

namespace vigil::front {

struct OllamaRequest {
  std::string model;     // as the client named it
  bool load_only = false;
  JobRequest job;        // job.stream: the "stream" field (default true)
};

Result<OllamaRequest> ParseOllamaChat(std::string_view body, const ParseOptions& opts);
Result<OllamaRequest> ParseOllamaGenerate(std::string_view body, const ParseOptions& opts);

}  // namespace vigil::front
