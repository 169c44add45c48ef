// POST /v1/chat/completions body (see job_request.h).
//
// The messages travel to the worker as they are (JobSpec::messages: roles,
// text parts, image parts in order; "developer" becomes "system"), where the
// model's chat template renders them. They are also folded into a text-only
// prompt for logs, the fingerprint and the chaos engine: a single user
// message is its text as is; a longer conversation becomes
// "System: ...\nUser: ...\nAssistant: ..." lines, in order. image_url parts
// must be data: URIs: the server fetches nothing.
#include "front/base64.h"
#include "front/job_request.h"
#include "front/json_body.h"
#include "front/text.h"

namespace vigil::front {
namespace {

using nlohmann::json;

Error Bad(std::string why) { return MakeError(ErrorCode::kInvalidRequest, std::move(why)); }

using protocol::ContentPart;

// Text of one message; attaches its images to out and appends every part to
// `parts`.
Result<std::string> MessageText(const json& content, const ParseOptions& opts, JobRequest& out,
                                std::vector<ContentPart>& parts) {
  if (content.is_null()) return std::string();
  if (content.is_string()) {
    parts.push_back({ContentPart::Kind::kText, content.get<std::string>()});
    return content.get<std::string>();
  }
  if (!content.is_array()) return Bad("message \"content\" must be a string or an array of parts");
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      return Bad("each content part needs a \"type\"");
    }
    const std::string type = part["type"].get<std::string>();
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string()) return Bad("text part without \"text\"");
      if (!text.empty()) text += "\n";
      text += part["text"].get<std::string>();
      parts.push_back({ContentPart::Kind::kText, part["text"].get<std::string>()});
    } else if (type == "image_url") {
      const json* url = nullptr;
      if (part.contains("image_url")) {
        const json& iu = part["image_url"];
        url = iu.is_string() ? &iu : (iu.is_object() && iu.contains("url") ? &iu["url"] : nullptr);
      }
      if (!url || !url->is_string()) return Bad("image_url part without \"image_url.url\"");
      const std::string& u = url->get_ref<const std::string&>();
      if (u.size() < 5 || !IEquals(std::string_view(u).substr(0, 5), "data:")) {
        return Bad("image_url must be a data: URI (the server fetches no URLs)");
      }
      auto uri = ParseDataUri(u);
      if (!uri.ok()) return uri.error();
      if (auto s = AttachImage(std::move(uri->data), opts.limits, out); !s.ok()) return s.error();
      parts.push_back({ContentPart::Kind::kImage, {}});
    } else {
      return Bad("unsupported content part type \"" + ForLog(type, 40) + "\"");
    }
  }
  return text;
}

Result<std::string> FoldMessages(const json& messages, const ParseOptions& opts, JobRequest& out) {
  if (!messages.is_array() || messages.empty()) return Bad("\"messages\" must be a non-empty array");
  std::vector<std::pair<std::string, std::string>> turns;
  for (const json& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return Bad("each message needs a \"role\"");
    }
    const std::string role = m["role"].get<std::string>();
    if (role != "system" && role != "developer" && role != "user" && role != "assistant") {
      return Bad("unsupported message role \"" + ForLog(role, 40) + "\"");
    }
    protocol::ChatMessage msg{role == "developer" ? "system" : role, {}};
    auto text = MessageText(m.contains("content") ? m["content"] : json(), opts, out, msg.content);
    if (!text.ok()) return text.error();
    turns.emplace_back(role, std::move(*text));
    out.spec.messages.push_back(std::move(msg));
  }
  if (turns.size() == 1 && turns[0].first == "user") return std::move(turns[0].second);
  std::string prompt;
  for (auto& [role, text] : turns) {
    if (text.empty()) continue;
    const char* label = role == "user" ? "User" : role == "assistant" ? "Assistant" : "System";
    prompt += std::string(label) + ": " + text + "\n";
  }
  return prompt;
}

}  // namespace

Result<JobRequest> ParseChatRequest(std::string_view body, const ParseOptions& opts) {
  auto parsed = ParseJsonBody(body, opts.limits.max_json_depth);
  if (!parsed.ok()) return parsed.error();
  const json& obj = *parsed;
  JobRequest out;
  out.spec.route = "/v1/chat/completions";
  if (!obj.contains("messages")) return Bad("\"messages\" is required");
  auto prompt = FoldMessages(obj["messages"], opts, out);
  if (!prompt.ok()) return prompt.error();
  if (auto it = obj.find("n"); it != obj.end() && !it->is_null() && *it != 1) return Bad("only n=1 is supported");
  if (auto it = obj.find("stream"); it != obj.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("\"stream\" must be a boolean");
    out.stream = it->get<bool>();
  }
  if (auto it = obj.find("stream_options"); it != obj.end() && it->is_object()) {
    if (auto u = it->find("include_usage"); u != it->end() && u->is_boolean()) out.include_usage = u->get<bool>();
  }
  if (auto s = ReadSampling(obj, opts.limits, out.spec.params); !s.ok()) return s.error();
  if (auto s = ReadControlFields(obj, opts, out); !s.ok()) return s.error();
  if (auto s = ValidatePrompt(*prompt, !out.images.empty(), opts.limits); !s.ok()) return s.error();
  out.spec.prompt = std::move(*prompt);
  return out;
}

}  // namespace vigil::front
