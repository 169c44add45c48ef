// multipart.h: a multipart/form-data parser (RFC 7578 / RFC 2046 framing).
//
// Why hand-written: Boost.Beast parses HTTP messages but has no multipart
// parser, and the form-data subset needed here (boundary framing, the
// Content-Disposition name/filename and Content-Type of each part) is small
// enough to own. It works on a body already held in memory (the body limit
// was enforced while reading) and returns views into it: no part is copied.
// Fuzzed by tests/fuzz/fuzz_multipart.cc.
//
// Errors are kInvalidRequest naming what is wrong, or kPayloadTooLarge when
// there are more than max_parts parts. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace vigil::front {

struct Part {
  std::string name;          // Content-Disposition name
  std::string filename;      // empty if none
  std::string content_type;  // lower-case; empty if none
  std::string_view data;     // view into the body
};

// Extracts the boundary parameter of a multipart/form-data Content-Type.
Result<std::string> MultipartBoundary(std::string_view content_type);

// REQUIRES: body outlives the returned parts.
Result<std::vector<Part>> ParseMultipart(std::string_view body, std::string_view boundary,
                                         int max_parts);

// Splits a header value "type; a=b; c=\"d\"" into its parameters; the first
// element is the bare value (lower-case), names are lower-case.
std::vector<std::pair<std::string, std::string>> SplitHeaderParams(std::string_view value);

}  // namespace vigil::front
