// POST /analyze bodies: JSON and multipart/form-data (see job_request.h).
#include <set>

#include "front/base64.h"
#include "front/job_request.h"
#include "front/json_body.h"
#include "front/multipart.h"
#include "front/text.h"

namespace vigil::front {
namespace {

using nlohmann::json;

Error Bad(std::string why) { return MakeError(ErrorCode::kInvalidRequest, std::move(why)); }

// Fields common to both shapes once they are a JSON object.
Result<JobRequest> FromObject(const json& body, bool has_image_already, JobRequest out,
                              const ParseOptions& opts) {
  std::string prompt;
  if (auto it = body.find("prompt"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return Bad("\"prompt\" must be a string");
    prompt = it->get<std::string>();
  }
  if (auto it = body.find("stream"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("\"stream\" must be a boolean");
    out.stream = it->get<bool>();
  }
  if (auto s = ReadSampling(body, opts.limits, out.spec.params); !s.ok()) return s.error();
  if (auto s = ReadControlFields(body, opts, out); !s.ok()) return s.error();
  if (auto s = ValidatePrompt(prompt, has_image_already || !out.images.empty(), opts.limits); !s.ok()) {
    return s.error();
  }
  out.spec.prompt = std::move(prompt);
  out.spec.route = "/analyze";
  return out;
}

}  // namespace

Result<JobRequest> ParseAnalyzeJson(std::string_view body, const ParseOptions& opts) {
  auto parsed = ParseJsonBody(body, opts.limits.max_json_depth);
  if (!parsed.ok()) return parsed.error();
  const json& obj = *parsed;
  JobRequest out;
  auto it = obj.find("image");
  if (it == obj.end() || it->is_null()) it = obj.find("images");
  const bool is_list = it != obj.end() && it->is_array() && !it->empty();
  if (it == obj.end() || !(is_list || (it->is_string() && !it->get_ref<const std::string&>().empty()))) {
    return Bad("\"image\" is required: base64 or a data: URI, or a list of them");
  }
  const json one = is_list ? json() : *it;
  for (const json& field : is_list ? *it : json::array({one})) {
    if (!field.is_string() || field.get_ref<const std::string&>().empty()) {
      return Bad("each image must be a non-empty string: base64 or a data: URI");
    }
    auto bytes = DecodeImageField(field.get_ref<const std::string&>());
    if (!bytes.ok()) return bytes.error();
    if (auto s = AttachImage(std::move(*bytes), opts.limits, out); !s.ok()) return s.error();
  }
  return FromObject(obj, true, std::move(out), opts);
}

Result<JobRequest> ParseAnalyzeMultipart(std::string_view content_type, std::string_view body,
                                         const ParseOptions& opts) {
  auto boundary = MultipartBoundary(content_type);
  if (!boundary.ok()) return boundary.error();
  auto parts = ParseMultipart(body, *boundary, opts.limits.max_parts);
  if (!parts.ok()) return parts.error();
  JobRequest out;
  json fields = json::object();
  std::set<std::string> seen;
  for (const Part& part : *parts) {
    // Repeated "image" parts are several images, in order.
    if (part.name != "image" && !seen.insert(part.name).second) {
      return Bad("duplicate form field \"" + ForLog(part.name, 40) + "\"");
    }
    if (part.name == "image") {
      if (auto s = AttachImage(std::string(part.data), opts.limits, out); !s.ok()) return s.error();
    } else if (part.name == "prompt" || part.name == "fault") {
      fields[part.name] = std::string(part.data);
      if (part.name == "prompt" && !IsValidUtf8(part.data)) return Bad("prompt is not valid UTF-8");
    } else if (part.data.size() <= 64) {
      // Scalar fields arrive as text: read them as JSON literals (42, 0.7,
      // true) so both shapes share one validator; anything else stays text.
      json v = json::parse(part.data, nullptr, false);
      fields[part.name] = (v.is_discarded() || v.is_structured()) ? json(std::string(part.data)) : v;
    } else {
      return Bad("form field \"" + ForLog(part.name, 40) + "\" is too long");
    }
  }
  if (out.images.empty()) return Bad("the \"image\" part is required");
  return FromObject(fields, true, std::move(out), opts);
}

}  // namespace vigil::front
