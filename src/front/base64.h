// base64.h: strict base64 (RFC 4648 section 4) and data: URIs (RFC 2397).
//
// Why hand-written: Beast's base64 lives in beast::detail (internal, may
// change without notice) and stops silently at the first invalid character,
// so "abc!!!" would decode to a short image instead of being a 400. This
// decoder rejects any byte outside the alphabet, misplaced padding and
// non-zero trailing bits. CR and LF are skipped (MIME-wrapped base64).
// Fuzzed by tests/fuzz/fuzz_base64.cc.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace vigil::front {

// nullopt if in is not valid base64. Padding is optional.
std::optional<std::string> DecodeBase64(std::string_view in);
std::string EncodeBase64(std::string_view in);

struct DataUri {
  std::string media_type;  // as declared, lower-case; informative only
  std::string data;        // decoded bytes
};

// Parses "data:[<media type>][;param...];base64,<data>". Only base64 data
// URIs are accepted (images are binary). Errors are kInvalidRequest.
Result<DataUri> ParseDataUri(std::string_view uri);

// An "image" field: a data: URI or bare base64. Errors are kInvalidRequest.
Result<std::string> DecodeImageField(std::string_view field);

}  // namespace vigil::front
