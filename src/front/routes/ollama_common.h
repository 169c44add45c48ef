// ollama_common.h: what the Ollama routes (routes/ollama*.cc) share: the
// error shape, the model's name and facts in Ollama's terms, timestamps.
//
// Ollama names a model NAME:TAG; vigil serves one model, listed as
// "<ModelName()>:latest" and found by that name with or without the tag.
// Thread-safety: none; the event-loop thread only.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "front/context.h"
#include "front/exchange.h"

namespace vigil::front::ollama {

// {"error": "message", "error_type": "invalid_image"}: Ollama's clients read
// "error" (the JS client raises it as ResponseError); error_type is vigil's
// typed code, for clients that want it.
nlohmann::json ErrorBody(const Error& error);
inline void RespondError(const std::shared_ptr<Exchange>& ex, const Error& error, bool retryable = true) {
  ex->RespondError(error, retryable, ErrorBody);
}
// "<name>:latest".
std::string TaggedName(const supervisor::Dispatcher& dispatcher);
// Whether `requested` names the served model; else a 404 kNotFound error.
Status CheckModel(const supervisor::Dispatcher& dispatcher, std::string_view requested);
// RFC 3339 UTC, as Ollama's created_at / modified_at.
std::string Timestamp(std::chrono::system_clock::time_point t);
// "details" of /api/tags, /api/show, /api/ps from the loaded worker's facts.
nlohmann::json Details(const supervisor::Dispatcher& dispatcher);
// The first loaded worker's "model" facts, as /v1/workers shows them (null when none loaded).
nlohmann::json LoadedModel(const supervisor::Dispatcher& dispatcher);

}  // namespace vigil::front::ollama
