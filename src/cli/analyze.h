// analyze.h: `vigil analyze [--server URL] IMAGE [PROMPT]`, the client, and
// the one-request helper `vigil demo` shares.
//
// Streams the answer to stdout as it is generated, progress (image decode,
// encode, prefill) to stderr, and on failure one clear line to stderr. The
// exit code says what went wrong (kExitCodes; documented in --help and
// docs/http-api.md).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vigil::cli {

struct AnalyzeOptions {
  std::string server = "http://127.0.0.1:8080";
  std::string image_path;
  std::string prompt;
  int max_tokens = 0;        // 0: server default
  double temperature = -1;   // <0: server default
  std::string api_key;
  double timeout_s = 0;      // 0: server default
  bool quiet = false;        // no progress on stderr
};

// Exit codes of `vigil analyze`, one per error type.
struct ExitCode {
  int code;
  std::string_view type;  // the error type on the wire, or a local cause
  std::string_view meaning;
};
inline constexpr ExitCode kExitCodes[] = {
    {0, "", "the answer was printed"},
    {2, "usage", "bad arguments or an unreadable image file"},
    {3, "unreachable", "the server cannot be reached or the connection broke"},
    {10, "invalid_request", "the server rejected the request (400/404/405/431)"},
    {11, "unauthorized", "missing or wrong --api-key (401)"},
    {12, "payload_too_large", "body, image or prompt over a server limit (413)"},
    {13, "unsupported_image_format", "not png, jpeg, webp or gif (415)"},
    {14, "invalid_image", "the image is corrupt, truncated or lies about its size (422)"},
    {15, "image_too_large", "too many pixels (422)"},
    {16, "input_quarantined", "this input crashed workers before and is quarantined (422)"},
    {17, "prompt_too_long", "the prompt does not fit the model's context (422)"},
    {20, "overloaded", "the server's queue is full; try later (503)"},
    {21, "not_ready", "no worker is up, or the server is draining (503)"},
    {25, "out_of_memory", "the model does not fit the server's device memory (503)"},
    {22, "worker_crashed", "the model crashed on every attempt (502)"},
    {23, "timeout", "the deadline passed (504)"},
    {24, "internal", "a server bug or an unknown error (500)"},
};
int ExitCodeFor(std::string_view error_type);
std::string ExitCodeTable();  // for --help

struct AnalyzeResult {
  int exit_code = 0;
  std::string text;
  nlohmann::json done;   // the final {"done": true, ...} event
  std::string error_line;  // set when exit_code != 0
};

// One streamed /analyze request. on_text gets each piece as it arrives.
AnalyzeResult AnalyzeOnce(const AnalyzeOptions& opts, const std::string& image,
                          const std::function<void(std::string_view)>& on_text,
                          const std::function<void(const nlohmann::json&)>& on_progress);

int RunAnalyze(const AnalyzeOptions& opts);

}  // namespace vigil::cli
