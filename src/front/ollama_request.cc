// Ollama /api/chat and /api/generate bodies (see ollama_request.h).
#include "front/ollama_request.h"

#include "front/base64.h"
#include "front/json_body.h"
#include "front/text.h"

namespace vigil::front {
namespace {

using nlohmann::json;
using protocol::ContentPart;

Error Bad(std::string why) { return MakeError(ErrorCode::kInvalidRequest, std::move(why)); }

// The fields every shape shares: model, stream, options, and the control
// fields (fault, timeout) vigil's own routes take too.
Status ReadCommon(const json& body, const ParseOptions& opts, OllamaRequest& out) {
  auto model = body.find("model");
  if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
    return Bad("model is required");
  }
  out.model = model->get<std::string>();
  out.job.stream = true;  // Ollama streams unless told not to
  if (auto it = body.find("stream"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("\"stream\" must be a boolean");
    out.job.stream = it->get<bool>();
  }
  json sampling = json::object();
  if (auto it = body.find("options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return Bad("\"options\" must be an object");
    for (const char* name : {"temperature", "top_p", "top_k", "seed", "stop"}) {
      if (auto o = it->find(name); o != it->end()) sampling[name] = *o;
    }
    if (auto o = it->find("num_predict"); o != it->end() && !o->is_null()) {
      if (!o->is_number()) return Bad("\"options.num_predict\" must be an integer");
      // -1 (until the context ends) and -2 (fill the context): the ceiling.
      sampling["max_tokens"] = o->get<double>() <= 0 ? json(opts.limits.max_tokens) : *o;
    }
  }
  if (auto s = ReadSampling(sampling, opts.limits, out.job.spec.params); !s.ok()) {
    Error e = s.error();
    e.message = "options: " + e.message;
    return e;
  }
  return ReadControlFields(body, opts, out.job);
}

// A message's or the request's "images": raw base64 strings, in order.
Status ReadImages(const json& holder, const ParseOptions& opts, JobRequest& job, std::vector<ContentPart>* parts) {
  auto it = holder.find("images");
  if (it == holder.end() || it->is_null()) return OkStatus();
  if (!it->is_array()) return Bad("\"images\" must be an array of base64 strings");
  for (const json& img : *it) {
    if (!img.is_string() || img.get_ref<const std::string&>().empty()) {
      return Bad("each of \"images\" must be a non-empty base64 string");
    }
    auto bytes = DecodeImageField(img.get_ref<const std::string&>());
    if (!bytes.ok()) return bytes.error();
    if (auto s = AttachImage(std::move(*bytes), opts.limits, job); !s.ok()) return s.error();
    if (parts) parts->push_back({ContentPart::Kind::kImage, {}});
  }
  return OkStatus();
}

Result<json> ParseObject(std::string_view body, const ParseOptions& opts) {
  auto parsed = ParseJsonBody(body, opts.limits.max_json_depth);
  if (!parsed.ok()) return parsed.error();
  return std::move(*parsed);
}

}  // namespace

Result<OllamaRequest> ParseOllamaChat(std::string_view body, const ParseOptions& opts) {
  auto parsed = ParseObject(body, opts);
  if (!parsed.ok()) return parsed.error();
  const json& obj = *parsed;
  OllamaRequest out;
  if (auto s = ReadCommon(obj, opts, out); !s.ok()) return s.error();
  auto messages = obj.find("messages");
  if (messages != obj.end() && !messages->is_null() && !messages->is_array()) {
    return Bad("\"messages\" must be an array");
  }
  if (messages == obj.end() || messages->is_null() || messages->empty()) {
    out.load_only = true;
    return out;
  }
  // The text-only prompt (logs, fingerprint, chaos engine): one user turn as
  // is, a longer conversation as "Role: text" lines.
  std::vector<std::pair<std::string, std::string>> turns;
  for (const json& m : *messages) {
    if (!m.is_object()) return Bad("each message must be an object");
    auto role_it = m.find("role");
    const std::string role = role_it != m.end() && role_it->is_string() ? role_it->get<std::string>() : "";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      return Bad("unsupported message role \"" + ForLog(role, 40) + "\"");
    }
    auto content = m.find("content");
    if (content != m.end() && !content->is_null() && !content->is_string()) {
      return Bad("message \"content\" must be a string");
    }
    const std::string text = content != m.end() && content->is_string() ? content->get<std::string>() : "";
    // A tool result is context the model reads like a user turn.
    protocol::ChatMessage msg{role == "tool" ? "user" : role, {}};
    if (auto s = ReadImages(m, opts, out.job, &msg.content); !s.ok()) return s.error();
    if (!text.empty()) msg.content.push_back({ContentPart::Kind::kText, text});
    turns.emplace_back(msg.role, text);
    out.job.spec.messages.push_back(std::move(msg));
  }
  std::string prompt;
  if (turns.size() == 1 && turns[0].first == "user") {
    prompt = turns[0].second;
  } else {
    for (const auto& [role, text] : turns) {
      if (!prompt.empty()) prompt += "\n";
      prompt += (role == "system" ? "System: " : role == "assistant" ? "Assistant: " : "User: ") + text;
    }
  }
  if (auto s = ValidatePrompt(prompt, !out.job.spec.images.empty(), opts.limits); !s.ok()) return s.error();
  out.job.spec.prompt = std::move(prompt);
  out.job.spec.route = "/api/chat";
  return out;
}

Result<OllamaRequest> ParseOllamaGenerate(std::string_view body, const ParseOptions& opts) {
  auto parsed = ParseObject(body, opts);
  if (!parsed.ok()) return parsed.error();
  const json& obj = *parsed;
  OllamaRequest out;
  if (auto s = ReadCommon(obj, opts, out); !s.ok()) return s.error();
  std::string prompt, system;
  for (auto [name, dest] : {std::pair{"prompt", &prompt}, std::pair{"system", &system}}) {
    if (auto it = obj.find(name); it != obj.end() && !it->is_null()) {
      if (!it->is_string()) return Bad("\"" + std::string(name) + "\" must be a string");
      *dest = it->get<std::string>();
    }
  }
  std::vector<ContentPart> parts;
  if (auto s = ReadImages(obj, opts, out.job, &parts); !s.ok()) return s.error();
  if (Trim(prompt).empty() && out.job.spec.images.empty()) {
    out.load_only = true;
    return out;
  }
  if (auto s = ValidatePrompt(prompt, !out.job.spec.images.empty(), opts.limits); !s.ok()) return s.error();
  if (!system.empty()) {
    if (!IsValidUtf8(system)) return Bad("system is not valid UTF-8");
    if (system.size() + prompt.size() > opts.limits.max_prompt_bytes) {
      return MakeError(ErrorCode::kPayloadTooLarge, "system and prompt are over the prompt limit of " +
                                                        std::to_string(opts.limits.max_prompt_bytes) + " bytes");
    }
    parts.push_back({ContentPart::Kind::kText, prompt});
    out.job.spec.messages.push_back({"system", {{ContentPart::Kind::kText, system}}});
    out.job.spec.messages.push_back({"user", std::move(parts)});
    out.job.spec.prompt = "System: " + system + "\nUser: " + prompt;
  } else {
    out.job.spec.prompt = std::move(prompt);  // the default layout: images, then the prompt
  }
  out.job.spec.route = "/api/generate";
  return out;
}

}  // namespace vigil::front
