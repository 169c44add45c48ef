// Ollama's model routes: GET /api/tags, POST /api/show, GET /api/ps,
// GET /api/version; and the helpers of ollama_common.h.
//
// vigil serves one model, so /api/tags lists it, /api/ps lists it while a
// worker has it loaded, /api/show describes it (capabilities "completion" and
// "vision"). "size" is 0 and "digest" is the SHA-256 of the model's name:
// the front knows no model file (the workers load it), and clients use the
// digest only to tell models apart.
#include "common/log.h"
#include "common/sha256.h"
#include "front/json_body.h"
#include "front/routes/ollama_common.h"
#include "front/routes/routes.h"
#include "front/status_render.h"
#include "front/text.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0.0.0"
#endif

namespace vigil::front {
namespace ollama {

using nlohmann::json;

json ErrorBody(const Error& error) {
  return {{"error", error.message}, {"error_type", WireName(error.code)}};
}

std::string TaggedName(const supervisor::Dispatcher& dispatcher) { return dispatcher.ModelName() + ":latest"; }

Status CheckModel(const supervisor::Dispatcher& dispatcher, std::string_view requested) {
  const std::string name = dispatcher.ModelName();
  if (requested == name || requested == name + ":latest") return OkStatus();
  return MakeError(ErrorCode::kNotFound, "model \"" + ForLog(requested, 100) + "\" not found; this server runs \"" +
                                             name + ":latest\"");
}

std::string Timestamp(std::chrono::system_clock::time_point t) { return Iso8601(t); }

json LoadedModel(const supervisor::Dispatcher& dispatcher) {
  for (const auto& slot : dispatcher.Snapshot().slots) {
    if (slot.worker && slot.worker->loaded) return ModelJson(slot.worker->loaded->model);
  }
  return nullptr;
}

namespace {

// 14234567 -> "14.2M", as Ollama's parameter_size.
std::string HumanCount(double n) {
  const char* units[] = {"", "K", "M", "B", "T"};
  int u = 0;
  while (n >= 1000 && u < 4) {
    n /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f%s", n, units[u]);
  return buf;
}

json ModelEntry(FrontContext& ctx) {
  const std::string tagged = TaggedName(ctx.dispatcher);
  return {{"name", tagged},
          {"model", tagged},
          {"modified_at", Timestamp(ctx.started)},
          {"size", 0},
          {"digest", Sha256Hex(ctx.dispatcher.ModelName())},
          {"details", Details(ctx.dispatcher)}};
}

}  // namespace

json Details(const supervisor::Dispatcher& dispatcher) {
  const json m = LoadedModel(dispatcher);
  const std::string arch = m.is_object() ? m.value("arch", "") : "";
  json d = {{"parent_model", ""}, {"format", "gguf"}, {"family", arch},
            {"families", arch.empty() ? json::array() : json::array({arch})},
            {"parameter_size", m.is_object() ? HumanCount(m.value("n_params", 0.0)) : ""},
            {"quantization_level", ""}};
  return d;
}

}  // namespace ollama

void HandleOllamaTags(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  ex->RespondJson(200, {{"models", nlohmann::json::array({ollama::ModelEntry(ctx)})}});
}

void HandleOllamaPs(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  nlohmann::json models = nlohmann::json::array();
  const nlohmann::json loaded = ollama::LoadedModel(ctx.dispatcher);
  if (loaded.is_object()) {
    nlohmann::json m = ollama::ModelEntry(ctx);
    m.erase("modified_at");
    m["expires_at"] = "2318-01-01T00:00:00Z";  // loaded for as long as the server runs
    m["size_vram"] = 0;
    m["context_length"] = loaded.value("n_ctx", 0);
    models.push_back(std::move(m));
  }
  ex->RespondJson(200, {{"models", std::move(models)}});
}

void HandleOllamaShow(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  auto body = ParseJsonBody(ex->request().body, ctx.options.limits.max_json_depth);
  if (!body.ok()) return ollama::RespondError(ex, body.error(), false);
  std::string name;
  for (const char* field : {"model", "name"}) {  // "name": the older field
    if (auto it = body->find(field); name.empty() && it != body->end() && it->is_string()) name = it->get<std::string>();
  }
  if (name.empty()) return ollama::RespondError(ex, MakeError(ErrorCode::kInvalidRequest, "model is required"), false);
  if (auto s = ollama::CheckModel(ctx.dispatcher, name); !s.ok()) return ollama::RespondError(ex, s.error(), false);
  const nlohmann::json loaded = ollama::LoadedModel(ctx.dispatcher);
  nlohmann::json info = nlohmann::json::object();
  if (loaded.is_object()) {
    const std::string arch = loaded.value("arch", "");
    info["general.architecture"] = arch;
    info["general.parameter_count"] = loaded.value("n_params", 0);
    info[arch + ".context_length"] = loaded.value("n_ctx_train", 0);
    info[arch + ".vision.image_size"] = loaded.value("image_size", 0);
  }
  ex->RespondJson(200, {{"license", ""},
                        {"modelfile", "# served by vigil\nFROM " + ctx.dispatcher.ModelName() + "\n"},
                        {"parameters", ""},
                        {"template", "{{ .Prompt }}"},
                        {"details", ollama::Details(ctx.dispatcher)},
                        {"model_info", std::move(info)},
                        {"capabilities", {"completion", "vision"}},
                        {"modified_at", ollama::Timestamp(ctx.started)}});
}

void HandleOllamaVersion(FrontContext& /*ctx*/, const std::shared_ptr<Exchange>& ex) {
  ex->RespondJson(200, {{"version", VIGIL_VERSION}});
}

}  // namespace vigil::front
