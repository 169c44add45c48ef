#include "front/router.h"

#include <cmath>

#include "common/log.h"
#include "front/routes/ollama_common.h"
#include "front/routes/routes.h"
#include "front/text.h"

namespace vigil::front {
namespace {

using Handler = void (*)(FrontContext&, const std::shared_ptr<Exchange>&);

struct Route {
  std::string_view method;
  std::string_view path;
  Handler handler;
  bool open;  // reachable without the API key
};

constexpr Route kRoutes[] = {
    {"POST", "/analyze", HandleAnalyze, false},
    {"POST", "/v1/chat/completions", HandleChatCompletions, false},
    {"GET", "/v1/models", HandleModels, false},
    {"GET", "/health", HandleHealth, true},
    {"GET", "/livez", HandleHealth, true},
    {"GET", "/ready", HandleReady, true},
    {"GET", "/readyz", HandleReady, true},
    {"GET", "/metrics", HandleMetrics, false},
    {"GET", "/v1/workers", HandleWorkers, false},
    {"GET", "/", HandleHome, true},
    {"POST", "/api/chat", HandleOllamaChat, false},
    {"POST", "/api/generate", HandleOllamaGenerate, false},
    {"GET", "/api/tags", HandleOllamaTags, false},
    {"POST", "/api/show", HandleOllamaShow, false},
    {"GET", "/api/ps", HandleOllamaPs, false},
    {"GET", "/api/version", HandleOllamaVersion, true},
};

}  // namespace

Router::Router(supervisor::Dispatcher& dispatcher, FrontOptions options)
    : context_{dispatcher, std::move(options), {}, std::chrono::system_clock::now()} {}

bool Router::Authorized(const Request& request) const {
  const std::string& key = context_.options.api_key;
  if (key.empty()) return true;
  const std::string* auth = request.Header("authorization");
  if (!auth || auth->size() < 7 || !IEquals(std::string_view(*auth).substr(0, 7), "bearer ")) return false;
  return ConstantTimeEquals(Trim(std::string_view(*auth).substr(7)), key);
}

void Router::Handle(const std::shared_ptr<Exchange>& ex) {
  const Request& req = ex->request();
  const Route* match = nullptr;
  bool path_known = false;
  for (const Route& r : kRoutes) {
    if (r.path != req.path) continue;
    path_known = true;
    if (r.method == req.method) match = &r;
  }
  // Ollama's clients read {"error": "message"} on its /api/ paths.
  const bool ollama_path = req.path.starts_with("/api/");
  auto refuse = [&](const Error& e) { ollama_path ? ollama::RespondError(ex, e) : ex->RespondError(e); };
  if (!match) {
    refuse(path_known ? MakeError(ErrorCode::kMethodNotAllowed, req.method + " is not allowed on " + req.path)
                      : MakeError(ErrorCode::kNotFound, "no route " + ForLog(req.path, 100)));
    return;
  }
  ex->set_route(std::string(match->path));
  if (!match->open && !Authorized(req)) {
    refuse(MakeError(ErrorCode::kUnauthorized, "missing or wrong API key (Authorization: Bearer KEY)"));
    return;
  }
  match->handler(context_, ex);
}

OutcomeHook Router::Hook() {
  return [this](const Outcome& o) {
    context_.metrics.Record(o);
    nlohmann::json fields = {{"method", o.method}, {"path", ForLog(o.path, 100)}, {"status", o.status},
                             {"ms", std::llround(o.seconds * 1000)}, {"attempts", o.attempts},
                             {"request_id", o.request_id}};
    if (!o.error_type.empty()) fields["error"] = o.error_type;
    if (o.client_gone) fields["client_gone"] = true;
    LogInfo("request_finished", fields);
  };
}

}  // namespace vigil::front
