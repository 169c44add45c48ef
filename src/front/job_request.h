// job_request.h: turning a request body into a validated JobSpec.
//
// The two inference routes accept different shapes (/analyze: JSON or
// multipart/form-data; /v1/chat/completions: OpenAI JSON) but validate the
// same things the same way: the prompt (UTF-8, size; an empty prompt with an
// image becomes kDefaultPrompt), each image (size, count, total size, then
// image::SniffImage),
// the sampling parameters (types and ranges), the fault spec (only with
// --allow-fault-injection) and the timeout. Every error is a typed value
// (kInvalidRequest, kPayloadTooLarge, the image codes) whose message names
// the field and, for limits, the limit.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "front/limits.h"
#include "image/sniff.h"
#include "supervisor/dispatcher.h"

namespace vigil::front {

inline constexpr std::string_view kDefaultPrompt = "Describe the image.";

struct JobRequest {
  supervisor::JobSpec spec;
  bool stream = false;
  bool include_usage = false;       // chat: stream_options.include_usage
  std::vector<image::Info> images;  // one per attached image, in order
};

struct ParseOptions {
  Limits limits;
  bool allow_fault = false;
};

// Shared checks.
Status ValidatePrompt(std::string& prompt, bool has_image, const Limits& limits);
// Checks one more image against the per-image, count and total limits, sniffs
// it, and appends it to out.spec.images and out.images.
Status AttachImage(std::string bytes, const Limits& limits, JobRequest& out);
// Reads max_tokens / max_completion_tokens, temperature, top_p, top_k, seed,
// stop from a JSON object; absent fields keep their defaults.
Status ReadSampling(const nlohmann::json& body, const Limits& limits, protocol::SamplingParams& out);
// A fault to inject; every_attempt: also on the retries (else attempt 1 only).
struct FaultRequest {
  protocol::FaultSpec spec;
  bool every_attempt = false;
};
// "kind=segfault;at=after_tokens;after_tokens=3;exit_code=7;every_attempt=1"
Result<FaultRequest> ParseFaultText(std::string_view text);
// {"kind": ..., "at": ..., "after_tokens": n, "exit_code": n, "every_attempt": bool} or the text form.
Result<FaultRequest> ParseFaultJson(const nlohmann::json& value);
// A client's own deadline in seconds ("timeout" field, X-Vigil-Timeout).
Result<std::chrono::milliseconds> ParseTimeoutSeconds(const nlohmann::json& value);
// The "fault" and "timeout" body fields, shared by both routes.
Status ReadControlFields(const nlohmann::json& body, const ParseOptions& opts, JobRequest& out);

// POST /analyze bodies.
Result<JobRequest> ParseAnalyzeJson(std::string_view body, const ParseOptions& opts);
Result<JobRequest> ParseAnalyzeMultipart(std::string_view content_type, std::string_view body,
                                         const ParseOptions& opts);
// POST /v1/chat/completions body.
Result<JobRequest> ParseChatRequest(std::string_view body, const ParseOptions& opts);

}  // namespace vigil::front
