#include "protocol/messages.h"

#include <cmath>
#include <limits>

namespace vigil::protocol {
namespace {

using nlohmann::json;

// FieldReader pulls typed fields out of a header object and remembers the
// first problem, so each Parse* reads as a flat list of fields.
class FieldReader {
 public:
  FieldReader(const json& obj, std::string_view msg) : obj_(obj), msg_(msg) {}

  template <typename Int>
  void Int64(const char* key, Int& out, bool required, int64_t lo, int64_t hi) {
    const json* v = Find(key, required);
    if (!v) return;
    if (!v->is_number_integer()) return Fail(key, "is not an integer");
    int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)
                    ? INT64_MAX : v->get<int64_t>();
    if (x < lo || x > hi) return Fail(key, "is out of range");
    out = static_cast<Int>(x);
  }
  void U64(const char* key, uint64_t& out, bool required) {
    const json* v = Find(key, required);
    if (!v) return;
    if (!v->is_number_unsigned()) return Fail(key, "is not an unsigned integer");
    out = v->get<uint64_t>();
  }
  void Double(const char* key, double& out, bool required, double lo, double hi) {
    const json* v = Find(key, required);
    if (!v) return;
    if (!v->is_number()) return Fail(key, "is not a number");
    double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi) return Fail(key, "is out of range");
    out = x;
  }
  void String(const char* key, std::string& out, bool required, size_t max_len = 1u << 20) {
    const json* v = Find(key, required);
    if (!v) return;
    if (!v->is_string()) return Fail(key, "is not a string");
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > max_len) return Fail(key, "is too long");
    out = s;
  }
  void Bool(const char* key, bool& out, bool required) {
    const json* v = Find(key, required);
    if (!v) return;
    if (!v->is_boolean()) return Fail(key, "is not a boolean");
    out = v->get<bool>();
  }
  const json* Object(const char* key, bool required) {
    const json* v = Find(key, required);
    if (v && !v->is_object()) { Fail(key, "is not an object"); return nullptr; }
    return v;
  }
  // An array of token ids (0 .. INT32_MAX), at most max_len of them.
  void Tokens(const char* key, std::vector<int32_t>& out, size_t max_len) {
    const json* v = Find(key, false);
    if (!v) return;
    if (!v->is_array()) return Fail(key, "is not an array");
    if (v->size() > max_len) return Fail(key, "has too many entries");
    out.reserve(v->size());
    for (const auto& t : *v) {
      if (!t.is_number_unsigned() || t.get<uint64_t>() > uint64_t(INT32_MAX)) {
        return Fail(key, "holds a value that is not a token id");
      }
      out.push_back(static_cast<int32_t>(t.get<uint64_t>()));
    }
  }
  const json* Array(const char* key, bool required) {
    const json* v = Find(key, required);
    if (v && !v->is_array()) { Fail(key, "is not an array"); return nullptr; }
    return v;
  }
  void Fail(std::string_view key, std::string_view why) {
    if (!error_) error_ = std::string(msg_) + "." + std::string(key) + " " + std::string(why);
  }
  bool ok() const { return !error_; }
  Error error() const { return MakeError(ErrorCode::kInternal, "malformed " + *error_); }

 private:
  const json* Find(const char* key, bool required) {
    if (error_) return nullptr;
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) {
      if (required) Fail(key, "is missing");
      return nullptr;
    }
    return &*it;
  }
  const json& obj_;
  std::string_view msg_;
  std::optional<std::string> error_;
};

constexpr int64_t kMaxI = std::numeric_limits<int64_t>::max();

Frame Make(MessageType type, json header, std::string payload = {}) {
  Frame f;
  f.type = type;
  f.header = std::move(header);
  f.payload = std::move(payload);
  return f;
}

template <typename T>
Result<T> Finish(FieldReader& r, T value) {
  if (!r.ok()) return r.error();
  return value;
}

Error Malformed(std::string what) { return MakeError(ErrorCode::kInternal, "malformed " + what); }

json MessagesJson(const std::vector<ChatMessage>& messages) {
  json out = json::array();
  for (const auto& msg : messages) {
    json parts = json::array();
    for (const auto& p : msg.content) {
      if (p.kind == ContentPart::Kind::kImage) {
        parts.push_back({{"type", "image"}});
      } else {
        parts.push_back({{"type", "text"}, {"text", p.text}});
      }
    }
    out.push_back({{"role", msg.role}, {"content", std::move(parts)}});
  }
  return out;
}

Result<std::vector<ChatMessage>> ParseMessages(const json& array) {
  if (array.size() > 4096) return Malformed("job.messages: too many");
  std::vector<ChatMessage> out;
  for (const json& j : array) {
    if (!j.is_object()) return Malformed("job.messages: not an object");
    FieldReader r(j, "job.messages[]");
    ChatMessage msg;
    r.String("role", msg.role, true, 64);
    const json* content = r.Array("content", true);
    if (!r.ok()) return r.error();
    for (const json& pj : *content) {
      if (!pj.is_object()) return Malformed("job.messages[].content: not an object");
      FieldReader pr(pj, "job.messages[].content[]");
      std::string type;
      ContentPart part;
      pr.String("type", type, true, 16);
      if (type == "text") {
        pr.String("text", part.text, true, kMaxHeaderBytes);
      } else if (type == "image") {
        part.kind = ContentPart::Kind::kImage;
      } else if (pr.ok()) {
        pr.Fail("type", "is neither text nor image");
      }
      if (!pr.ok()) return pr.error();
      msg.content.push_back(std::move(part));
    }
    out.push_back(std::move(msg));
  }
  return out;
}

// The payload cut at the sizes the header lists; they must cover it exactly.
Result<std::vector<std::string>> SplitImages(const json& sizes, const std::string& payload) {
  if (sizes.size() > kMaxJobImages) return Malformed("job.images: too many");
  std::vector<std::string> out;
  size_t at = 0;
  for (const json& s : sizes) {
    const json* bytes = s.is_object() && s.contains("bytes") ? &s["bytes"] : nullptr;
    if (!bytes || !bytes->is_number_unsigned()) return Malformed("job.images[].bytes");
    const uint64_t n = bytes->get<uint64_t>();
    if (n == 0 || n > payload.size() - at) return Malformed("job.images[].bytes: out of range");
    out.push_back(payload.substr(at, n));
    at += n;
  }
  if (at != payload.size()) return Malformed("job.images: sizes do not cover the payload");
  return out;
}

Result<ImageFacts> ParseImageFacts(const json& i) {
  if (!i.is_object()) return Malformed("done.image: not an object");
  FieldReader ir(i, "done.image");
  ImageFacts img;
  ir.Int64("width", img.width, true, 0, kMaxI);
  ir.Int64("height", img.height, true, 0, kMaxI);
  ir.Int64("model_width", img.model_width, true, 0, kMaxI);
  ir.Int64("model_height", img.model_height, true, 0, kMaxI);
  ir.String("format", img.format, false, 32);
  return Finish(ir, img);
}

}  // namespace

Frame ToFrame(const Hello& m) {
  return Make(MessageType::kHello, {{"protocol", m.protocol}, {"engine", m.engine}, {"pid", m.pid}});
}

Frame ToFrame(const Loaded& m) {
  const auto& f = m.model;
  return Make(MessageType::kLoaded,
              {{"load_ms", m.load_ms},
               {"capacity", m.capacity},
               {"model", {{"name", f.name}, {"arch", f.arch}, {"n_ctx", f.n_ctx},
                          {"n_ctx_train", f.n_ctx_train}, {"image_size", f.image_size},
                          {"n_params", f.n_params}, {"device", f.device},
                          {"device_memory_total", f.device_memory_total},
                          {"device_memory_free", f.device_memory_free},
                          {"gpu_layers", f.gpu_layers}, {"chat_template", f.chat_template}}}});
}

Frame ToFrame(const Job& m) {
  const auto& p = m.params;
  json h = {{"job", m.job_id},
            {"prompt", m.prompt},
            {"params", {{"max_tokens", p.max_tokens}, {"temperature", p.temperature},
                        {"top_p", p.top_p}, {"top_k", p.top_k}, {"seed", p.seed},
                        {"stop", p.stop}, {"ignore_eos", p.ignore_eos}}},
            {"max_image_pixels", m.max_image_pixels}};
  if (m.fault) {
    h["fault"] = {{"kind", m.fault->kind}, {"at", m.fault->at},
                  {"after_tokens", m.fault->after_tokens}, {"exit_code", m.fault->exit_code}};
  }
  if (!m.resume_tokens.empty()) h["resume_tokens"] = m.resume_tokens;
  if (!m.messages.empty()) h["messages"] = MessagesJson(m.messages);
  std::string payload;
  if (!m.images.empty()) {
    json sizes = json::array();
    size_t total = 0;
    for (const auto& img : m.images) total += img.size();
    payload.reserve(total);
    for (const auto& img : m.images) {
      sizes.push_back({{"bytes", img.size()}});
      payload += img;
    }
    h["images"] = std::move(sizes);
  }
  return Make(MessageType::kJob, std::move(h), std::move(payload));
}

Frame ToFrame(const Cancel& m) { return Make(MessageType::kCancel, {{"job", m.job_id}}); }

Frame ToFrame(const Progress& m) {
  json h = {{"job", m.job_id}, {"phase", m.phase}, {"done", m.done}, {"total", m.total}};
  if (m.image > 0) h["image"] = m.image;
  return Make(MessageType::kProgress, std::move(h));
}

Frame ToFrame(const Piece& m) {
  json h = {{"job", m.job_id}, {"text", m.text}};
  if (!m.tokens.empty()) h["tokens"] = m.tokens;
  return Make(MessageType::kPiece, std::move(h));
}

Frame ToFrame(const Done& m) {
  json h = {{"job", m.job_id},
            {"text", m.text},
            {"finish_reason", m.finish_reason},
            {"usage", {{"prompt_tokens", m.usage.prompt_tokens},
                       {"completion_tokens", m.usage.completion_tokens}}},
            {"timings", {{"image_decode_ms", m.timings.image_decode_ms},
                         {"image_encode_ms", m.timings.image_encode_ms},
                         {"prefill_ms", m.timings.prefill_ms},
                         {"decode_ms", m.timings.decode_ms}}}};
  if (m.device_memory_free > 0) h["device_memory_free"] = m.device_memory_free;
  if (!m.images.empty()) {
    json all = json::array();
    for (const auto& i : m.images) {
      all.push_back({{"width", i.width}, {"height", i.height}, {"model_width", i.model_width},
                     {"model_height", i.model_height}, {"format", i.format}});
    }
    h["image"] = all[0];  // what a version-2 peer without "images" reads
    h["images"] = std::move(all);
  }
  return Make(MessageType::kDone, std::move(h));
}

Frame ToFrame(const Failed& m) {
  return Make(MessageType::kFailed,
              {{"job", m.job_id}, {"code", std::string(WireName(m.code))}, {"message", m.message}});
}

Frame ToFrame(const Heartbeat& m) {
  return Make(MessageType::kHeartbeat,
              {{"phase", m.phase}, {"job", m.job_id}, {"progress", m.progress}});
}

Frame ToFrame(const Shutdown&) { return Make(MessageType::kShutdown, json::object()); }

Result<Hello> ParseHello(const Frame& f) {
  FieldReader r(f.header, "hello");
  Hello m;
  r.Int64("protocol", m.protocol, true, 1, 1000);
  r.String("engine", m.engine, true, 64);
  r.Int64("pid", m.pid, true, 1, kMaxI);
  return Finish(r, m);
}

Result<Loaded> ParseLoaded(const Frame& f) {
  FieldReader r(f.header, "loaded");
  Loaded m;
  r.Double("load_ms", m.load_ms, true, 0, 1e9);
  r.Int64("capacity", m.capacity, false, 1, 1024);
  if (const json* model = r.Object("model", true)) {
    FieldReader mr(*model, "loaded.model");
    auto& x = m.model;
    mr.String("name", x.name, true, 4096);
    mr.String("arch", x.arch, false, 256);
    mr.Int64("n_ctx", x.n_ctx, false, 0, kMaxI);
    mr.Int64("n_ctx_train", x.n_ctx_train, false, 0, kMaxI);
    mr.Int64("image_size", x.image_size, false, 0, 1 << 20);
    mr.Int64("n_params", x.n_params, false, 0, kMaxI);
    mr.String("device", x.device, false, 4096);
    mr.Int64("device_memory_total", x.device_memory_total, false, 0, kMaxI);
    mr.Int64("device_memory_free", x.device_memory_free, false, 0, kMaxI);
    mr.Int64("gpu_layers", x.gpu_layers, false, 0, 1 << 20);
    mr.String("chat_template", x.chat_template, false, 64);
    if (!mr.ok()) return mr.error();
  }
  return Finish(r, m);
}

Result<Job> ParseJob(Frame f) {
  FieldReader r(f.header, "job");
  Job m;
  r.U64("job", m.job_id, true);
  r.String("prompt", m.prompt, true, kMaxHeaderBytes);
  r.Int64("max_image_pixels", m.max_image_pixels, false, 0, kMaxI);
  r.Tokens("resume_tokens", m.resume_tokens, 1u << 20);
  if (const json* p = r.Object("params", true)) {
    FieldReader pr(*p, "job.params");
    auto& s = m.params;
    pr.Int64("max_tokens", s.max_tokens, false, 0, 1 << 24);
    pr.Double("temperature", s.temperature, false, 0, 100);
    pr.Double("top_p", s.top_p, false, 0, 1);
    pr.Int64("top_k", s.top_k, false, 0, 1 << 20);
    pr.U64("seed", s.seed, false);
    pr.Bool("ignore_eos", s.ignore_eos, false);
    if (const json* stop = pr.Array("stop", false)) {
      if (stop->size() > 16) pr.Fail("stop", "has too many entries");
      for (const auto& s1 : *stop) {
        if (!s1.is_string() || s1.get_ref<const std::string&>().empty()) {
          pr.Fail("stop", "holds a non-string or empty entry");
          break;
        }
        s.stop.push_back(s1.get<std::string>());
      }
    }
    if (!pr.ok()) return pr.error();
  }
  if (const json* fault = r.Object("fault", false)) {
    FieldReader fr(*fault, "job.fault");
    FaultSpec spec;
    fr.String("kind", spec.kind, true, 64);
    fr.String("at", spec.at, false, 64);
    fr.Int64("after_tokens", spec.after_tokens, false, 0, 1 << 24);
    fr.Int64("exit_code", spec.exit_code, false, 0, 255);
    if (!fr.ok()) return fr.error();
    m.fault = spec;
  }
  if (!r.ok()) return r.error();
  if (const json* msgs = r.Array("messages", false)) {
    Result<std::vector<ChatMessage>> parsed = ParseMessages(*msgs);
    if (!parsed) return parsed.error();
    m.messages = std::move(*parsed);
  }
  if (const json* sizes = r.Array("images", false)) {
    Result<std::vector<std::string>> images = SplitImages(*sizes, f.payload);
    if (!images) return images.error();
    m.images = std::move(*images);
  } else if (!f.payload.empty()) {
    m.images.push_back(std::move(f.payload));  // a version-2 peer's single image
  }
  return Finish(r, std::move(m));
}

Result<Cancel> ParseCancel(const Frame& f) {
  FieldReader r(f.header, "cancel");
  Cancel m;
  r.U64("job", m.job_id, true);
  return Finish(r, m);
}

Result<Progress> ParseProgress(const Frame& f) {
  FieldReader r(f.header, "progress");
  Progress m;
  r.U64("job", m.job_id, true);
  r.String("phase", m.phase, true, 64);
  r.Int64("done", m.done, false, 0, kMaxI);
  r.Int64("total", m.total, false, 0, kMaxI);
  r.Int64("image", m.image, false, 0, kMaxJobImages);
  return Finish(r, m);
}

Result<Piece> ParsePiece(const Frame& f) {
  FieldReader r(f.header, "piece");
  Piece m;
  r.U64("job", m.job_id, true);
  r.String("text", m.text, true, kMaxHeaderBytes);
  r.Tokens("tokens", m.tokens, 1u << 16);
  return Finish(r, m);
}

Result<Done> ParseDone(const Frame& f) {
  FieldReader r(f.header, "done");
  Done m;
  r.U64("job", m.job_id, true);
  r.String("text", m.text, true, kMaxHeaderBytes);
  r.String("finish_reason", m.finish_reason, true, 64);
  r.Int64("device_memory_free", m.device_memory_free, false, 0, kMaxI);
  if (const json* u = r.Object("usage", true)) {
    FieldReader ur(*u, "done.usage");
    ur.Int64("prompt_tokens", m.usage.prompt_tokens, true, 0, kMaxI);
    ur.Int64("completion_tokens", m.usage.completion_tokens, true, 0, kMaxI);
    if (!ur.ok()) return ur.error();
  }
  if (const json* t = r.Object("timings", false)) {
    FieldReader tr(*t, "done.timings");
    tr.Double("image_decode_ms", m.timings.image_decode_ms, false, 0, 1e9);
    tr.Double("image_encode_ms", m.timings.image_encode_ms, false, 0, 1e9);
    tr.Double("prefill_ms", m.timings.prefill_ms, false, 0, 1e9);
    tr.Double("decode_ms", m.timings.decode_ms, false, 0, 1e9);
    if (!tr.ok()) return tr.error();
  }
  if (const json* all = r.Array("images", false)) {
    if (all->size() > kMaxJobImages) return MakeError(ErrorCode::kInternal, "malformed done.images: too many");
    for (const json& i : *all) {
      Result<ImageFacts> img = ParseImageFacts(i);
      if (!img) return img.error();
      m.images.push_back(std::move(*img));
    }
  } else if (const json* i = r.Object("image", false)) {
    Result<ImageFacts> img = ParseImageFacts(*i);
    if (!img) return img.error();
    m.images.push_back(std::move(*img));
  }
  return Finish(r, m);
}

Result<Failed> ParseFailed(const Frame& f) {
  FieldReader r(f.header, "failed");
  Failed m;
  std::string code;
  r.U64("job", m.job_id, true);
  r.String("code", code, true, 64);
  r.String("message", m.message, true, 64 * 1024);
  if (!r.ok()) return r.error();
  auto parsed = ParseErrorCode(code);
  // An unknown code from a newer worker is still a typed failure: internal.
  m.code = parsed.value_or(ErrorCode::kInternal);
  return m;
}

Result<Heartbeat> ParseHeartbeat(const Frame& f) {
  FieldReader r(f.header, "heartbeat");
  Heartbeat m;
  r.String("phase", m.phase, true, 64);
  r.U64("job", m.job_id, false);
  r.U64("progress", m.progress, false);
  return Finish(r, m);
}

}  // namespace vigil::protocol
