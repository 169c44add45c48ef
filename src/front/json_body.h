// json_body.h: parsing a request body as JSON, strictly.
//
// nlohmann::json accepts duplicate keys (the last one wins) and any nesting
// depth. A request with {"prompt": "a", "prompt": "b"} is ambiguous (proxies
// and the server could read different values), and deep nesting costs memory
// for nothing, so both are 400 invalid_request here. The parser itself is
// nlohmann's (iterative, no recursion on input depth). Fuzzed by
// tests/fuzz/fuzz_json_request.cc.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vigil::front {

// The body must be one JSON object. Errors are kInvalidRequest.
Result<nlohmann::json> ParseJsonBody(std::string_view body, int max_depth);

}  // namespace vigil::front
