#include "common/error.h"

#include <array>

namespace vigil {
namespace {

struct Row {
  ErrorCode code;
  ErrorInfo info;
};

// The one place that maps an error to an HTTP status.
constexpr std::array kTable = {
    Row{ErrorCode::kInvalidRequest, {400, "invalid_request"}},
    Row{ErrorCode::kUnauthorized, {401, "unauthorized"}},
    Row{ErrorCode::kNotFound, {404, "not_found"}},
    Row{ErrorCode::kMethodNotAllowed, {405, "method_not_allowed"}},
    Row{ErrorCode::kHeaderTooLarge, {431, "header_too_large"}},
    Row{ErrorCode::kPayloadTooLarge, {413, "payload_too_large"}},
    Row{ErrorCode::kUnsupportedImageFormat, {415, "unsupported_image_format"}},
    Row{ErrorCode::kInvalidImage, {422, "invalid_image"}},
    Row{ErrorCode::kImageTooLarge, {422, "image_too_large"}},
    Row{ErrorCode::kInputQuarantined, {422, "input_quarantined"}},
    Row{ErrorCode::kPromptTooLong, {422, "prompt_too_long"}},
    Row{ErrorCode::kOverloaded, {503, "overloaded"}},
    Row{ErrorCode::kNotReady, {503, "not_ready"}},
    Row{ErrorCode::kOutOfMemory, {503, "out_of_memory"}},
    Row{ErrorCode::kWorkerCrashed, {502, "worker_crashed"}},
    Row{ErrorCode::kTimeout, {504, "timeout"}},
    Row{ErrorCode::kCancelled, {499, "cancelled"}},
    Row{ErrorCode::kInternal, {500, "internal"}},
};

}  // namespace

ErrorInfo Describe(ErrorCode code) {
  for (const auto& row : kTable) {
    if (row.code == code) return row.info;
  }
  return {500, "internal"};
}

std::optional<ErrorCode> ParseErrorCode(std::string_view wire_name) {
  for (const auto& row : kTable) {
    if (row.info.type == wire_name) return row.code;
  }
  return std::nullopt;
}

}  // namespace vigil
