#include "front/job_request.h"

#include <cmath>

#include "front/text.h"

namespace vigil::front {
namespace {

using nlohmann::json;

Error Bad(std::string why) { return MakeError(ErrorCode::kInvalidRequest, std::move(why)); }

bool IsInteger(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

Result<int64_t> ReadInt(const json& v, std::string_view name, int64_t lo, int64_t hi) {
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
      std::fabs(v.get<double>()) < 9e15) {
    return ReadInt(json(int64_t(v.get<double>())), name, lo, hi);
  }
  if (!IsInteger(v)) return Bad("\"" + std::string(name) + "\" must be an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) {
    return Bad("\"" + std::string(name) + "\" is out of range");
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    return Bad("\"" + std::string(name) + "\" is " + std::to_string(x) + "; allowed: " + std::to_string(lo) +
               ".." + std::to_string(hi));
  }
  return x;
}

Result<double> ReadNumber(const json& v, std::string_view name, double lo, double hi) {
  if (!v.is_number()) return Bad("\"" + std::string(name) + "\" must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    return Bad("\"" + std::string(name) + "\" must be within " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return x;
}

Status ReadStop(const json& v, std::vector<std::string>& out) {
  if (v.is_null()) return OkStatus();
  if (v.is_string()) {
    out = {v.get<std::string>()};
  } else if (v.is_array() && v.size() <= 4) {
    for (const auto& s : v) {
      if (!s.is_string()) return Bad("\"stop\" must be a string or an array of strings");
      out.push_back(s.get<std::string>());
    }
  } else {
    return Bad("\"stop\" must be a string or an array of at most 4 strings");
  }
  for (const auto& s : out) {
    if (s.empty() || s.size() > 256) return Bad("each \"stop\" string must be 1..256 bytes");
  }
  return OkStatus();
}

bool KnownFaultKind(std::string_view k) {
  // exception and hang_gil: only Python workers have them (python/vigil_worker/faults.py);
  // vigil-worker refuses them with invalid_request.
  for (std::string_view known : {"segfault", "abort", "hang_busy", "hang_syscall", "exit", "oom", "garbage",
                                 "close_protocol", "exception", "hang_gil"}) {
    if (k == known) return true;
  }
  return false;
}

Result<FaultRequest> CheckFault(protocol::FaultSpec f, bool every_attempt) {
  if (!KnownFaultKind(f.kind)) return Bad("unknown fault kind \"" + ForLog(f.kind, 40) + "\"");
  if (f.at != "before_first_token" && f.at != "after_tokens") {
    return Bad("fault \"at\" must be before_first_token or after_tokens");
  }
  if (f.after_tokens < 0 || f.after_tokens > 100000) return Bad("fault after_tokens out of range");
  if (f.exit_code < 0 || f.exit_code > 255) return Bad("fault exit_code must be 0..255");
  return FaultRequest{std::move(f), every_attempt};
}

}  // namespace

Status ValidatePrompt(std::string& prompt, bool has_image, const Limits& limits) {
  if (prompt.size() > limits.max_prompt_bytes) {
    return MakeError(ErrorCode::kPayloadTooLarge, "prompt is " + std::to_string(prompt.size()) +
                                                      " bytes; the limit is " +
                                                      std::to_string(limits.max_prompt_bytes));
  }
  if (!IsValidUtf8(prompt)) return Bad("prompt is not valid UTF-8");
  if (Trim(prompt).empty()) {
    if (!has_image) return Bad("prompt is empty and there is no image");
    prompt = std::string(kDefaultPrompt);
  }
  return OkStatus();
}

Status AttachImage(std::string bytes, const Limits& limits, JobRequest& out) {
  const size_t n = out.spec.images.size() + 1;
  if (n > static_cast<size_t>(limits.max_images)) {
    return Bad("at most " + std::to_string(limits.max_images) + " images per request (--max-images)");
  }
  const std::string which = "image " + std::to_string(n);
  if (bytes.size() > limits.max_image_bytes) {
    return MakeError(ErrorCode::kPayloadTooLarge, which + " is " + std::to_string(bytes.size()) +
                                                      " bytes; the limit is " +
                                                      std::to_string(limits.max_image_bytes) +
                                                      " (--max-image-bytes)");
  }
  size_t total = bytes.size();
  for (const auto& img : out.spec.images) total += img.size();
  if (total > limits.max_total_image_bytes) {
    return MakeError(ErrorCode::kPayloadTooLarge, "the images are " + std::to_string(total) +
                                                      " bytes together; the limit is " +
                                                      std::to_string(limits.max_total_image_bytes) +
                                                      " (--max-total-image-bytes)");
  }
  auto info = image::SniffImage(bytes, {limits.max_image_pixels, limits.allow_bmp});
  if (!info.ok()) {
    Error e = info.error();
    if (n > 1) e.message = which + ": " + e.message;
    return e;
  }
  out.images.push_back(*info);
  out.spec.images.push_back(std::move(bytes));
  return OkStatus();
}

Status ReadSampling(const json& body, const Limits& limits, protocol::SamplingParams& out) {
  out.max_tokens = limits.default_max_tokens;
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (auto it = body.find(name); it != body.end() && !it->is_null()) {
      auto v = ReadInt(*it, name, 1, limits.max_tokens);
      if (!v.ok()) return v.error();
      out.max_tokens = *v;
    }
  }
  if (auto it = body.find("temperature"); it != body.end() && !it->is_null()) {
    auto v = ReadNumber(*it, "temperature", 0, 2);
    if (!v.ok()) return v.error();
    out.temperature = *v;
  }
  if (auto it = body.find("top_p"); it != body.end() && !it->is_null()) {
    auto v = ReadNumber(*it, "top_p", 0, 1);
    if (!v.ok()) return v.error();
    if (*v == 0) return Bad("\"top_p\" must be > 0");
    out.top_p = *v;
  }
  if (auto it = body.find("top_k"); it != body.end() && !it->is_null()) {
    auto v = ReadInt(*it, "top_k", 0, 100000);
    if (!v.ok()) return v.error();
    out.top_k = *v;
  }
  if (auto it = body.find("seed"); it != body.end() && !it->is_null()) {
    auto v = ReadInt(*it, "seed", INT64_MIN, INT64_MAX);
    if (!v.ok()) return v.error();
    out.seed = uint64_t(*v);
  }
  // llama-server's extension, so benchmarks can force equal lengths.
  if (auto it = body.find("ignore_eos"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad("\"ignore_eos\" must be a boolean");
    out.ignore_eos = it->get<bool>();
  }
  if (auto it = body.find("stop"); it != body.end()) return ReadStop(*it, out.stop);
  return OkStatus();
}

Result<FaultRequest> ParseFaultText(std::string_view text) {
  protocol::FaultSpec f;
  bool every = false;
  while (!text.empty()) {
    const size_t semi = text.find(';');
    const std::string_view item = Trim(text.substr(0, semi));
    text = semi == std::string_view::npos ? std::string_view{} : text.substr(semi + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Bad("fault spec item without '=': " + ForLog(item, 40));
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "kind") {
      f.kind = value;
    } else if (key == "at") {
      f.at = value;
    } else if (key == "every_attempt") {
      every = value == "1" || value == "true";
    } else if (key == "after_tokens" || key == "exit_code") {
      auto n = json::parse(value, nullptr, false);
      if (!IsInteger(n)) return Bad("fault " + std::string(key) + " must be an integer");
      (key == "exit_code" ? f.exit_code : f.after_tokens) = n.get<int64_t>();
    } else {
      return Bad("unknown fault spec key \"" + ForLog(key, 40) + "\"");
    }
  }
  return CheckFault(std::move(f), every);
}

Result<FaultRequest> ParseFaultJson(const json& v) {
  if (v.is_string()) return ParseFaultText(v.get<std::string>());
  if (!v.is_object()) return Bad("\"fault\" must be an object or a spec string");
  protocol::FaultSpec f;
  if (!v.contains("kind") || !v["kind"].is_string()) return Bad("\"fault.kind\" must be a string");
  f.kind = v["kind"].get<std::string>();
  if (v.contains("at")) {
    if (!v["at"].is_string()) return Bad("\"fault.at\" must be a string");
    f.at = v["at"].get<std::string>();
  }
  for (const char* name : {"after_tokens", "exit_code"}) {
    if (!v.contains(name)) continue;
    auto n = ReadInt(v[name], name, 0, 100000);
    if (!n.ok()) return n.error();
    (std::string_view(name) == "exit_code" ? f.exit_code : f.after_tokens) = *n;
  }
  bool every = false;
  if (v.contains("every_attempt")) {
    if (!v["every_attempt"].is_boolean()) return Bad("\"fault.every_attempt\" must be a boolean");
    every = v["every_attempt"].get<bool>();
  }
  return CheckFault(std::move(f), every);
}

Result<std::chrono::milliseconds> ParseTimeoutSeconds(const json& v) {
  auto s = ReadNumber(v, "timeout", 0.001, 86400);
  if (!s.ok()) return s.error();
  return std::chrono::milliseconds(int64_t(std::ceil(*s * 1000)));
}

Status ReadControlFields(const json& body, const ParseOptions& opts, JobRequest& out) {
  if (auto it = body.find("fault"); it != body.end() && !it->is_null()) {
    if (!opts.allow_fault) return Bad("fault injection is disabled (start the server with --allow-fault-injection)");
    auto f = ParseFaultJson(*it);
    if (!f.ok()) return f.error();
    out.spec.fault = f->spec;
    out.spec.fault_on_every_attempt = f->every_attempt;
  }
  if (auto it = body.find("timeout"); it != body.end() && !it->is_null()) {
    auto t = ParseTimeoutSeconds(*it);
    if (!t.ok()) return t.error();
    out.spec.timeout = *t;
  }
  return OkStatus();
}

}  // namespace vigil::front
