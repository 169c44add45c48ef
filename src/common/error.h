// error.h: vigil's one error vocabulary.
//
// Every failure that reaches a client is an ErrorCode. The table in error.cc
// maps each code to exactly one HTTP status and one wire name; nothing else
// in the code base picks a status. Workers report errors with the same wire
// names (docs/protocol.md), so a code crosses the process boundary intact.
//
// Thread-safety: all functions are pure and may be called from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace vigil {

enum class ErrorCode {
  kInvalidRequest,          // 400 malformed request, bad field, bad value
  kUnauthorized,            // 401 missing or wrong API key
  kNotFound,                // 404 no such route
  kMethodNotAllowed,        // 405
  kHeaderTooLarge,          // 431 request header over the limit
  kPayloadTooLarge,         // 413 body, image or prompt over a limit
  kUnsupportedImageFormat,  // 415 bytes are no image format we decode
  kInvalidImage,            // 422 recognised format, but corrupt or lying
  kImageTooLarge,           // 422 declared pixels over --max-image-pixels
  kInputQuarantined,        // 422 this input crashed workers before
  kPromptTooLong,           // 422 prompt does not fit the model's context
  kOverloaded,              // 503 queue full (with Retry-After)
  kNotReady,                // 503 no worker can take work
  kOutOfMemory,             // 503 the model does not fit the worker's device memory
  kWorkerCrashed,           // 502 worker died on every attempt
  kTimeout,                 // 504 deadline passed
  kCancelled,               // 499 client went away (never sent; for logs)
  kInternal,                // 500 a bug
};

struct ErrorInfo {
  int http_status;
  std::string_view type;  // wire name, e.g. "invalid_image"
};

// The one table: code -> HTTP status and wire name.
ErrorInfo Describe(ErrorCode code);
inline std::string_view WireName(ErrorCode code) { return Describe(code).type; }
inline int HttpStatus(ErrorCode code) { return Describe(code).http_status; }

// Inverse of WireName, for codes received from a worker. nullopt if unknown.
std::optional<ErrorCode> ParseErrorCode(std::string_view wire_name);

// A typed error value: a code plus a human sentence for the client.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

// Result<T>: a value or an Error. Deliberately tiny (std::expected would do,
// but libstdc++ 12 on Debian 12 hosts lacks it; the sid root has g++ 16).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)), ok_(true) {}  // NOLINT
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T& operator*() { return value_; }
  const T& operator*() const { return value_; }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  const Error& error() const { return error_; }

 private:
  T value_{};
  Error error_{};
  bool ok_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status OkStatus() { return Ok{}; }

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace vigil
