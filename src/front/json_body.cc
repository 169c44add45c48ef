#include "front/json_body.h"

#include <set>
#include <string>
#include <vector>

namespace vigil::front {
namespace {

struct Reject {
  std::string why;
};

}  // namespace

Result<nlohmann::json> ParseJsonBody(std::string_view body, int max_depth) {
  using nlohmann::json;
  std::vector<std::set<std::string>> keys;  // one set per open object
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= max_depth) throw Reject{"JSON nested deeper than " + std::to_string(max_depth) + " levels"};
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second) {
          throw Reject{"duplicate JSON field \"" + parsed.get<std::string>() + "\""};
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    json value = json::parse(body, callback, /*allow_exceptions=*/true);
    if (!value.is_object()) return MakeError(ErrorCode::kInvalidRequest, "the JSON body must be an object");
    return value;
  } catch (const Reject& r) {
    return MakeError(ErrorCode::kInvalidRequest, r.why);
  } catch (const json::exception& e) {
    return MakeError(ErrorCode::kInvalidRequest, std::string("invalid JSON: ") + e.what());
  }
}

}  // namespace vigil::front
