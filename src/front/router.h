// router.h: maps (method, path) to a route handler, checks the API key, and
// turns each completed Exchange into a metric sample and one log line:
//   request POST /analyze 200 153ms attempts=2 id=r1f
//
// Routes: POST /analyze, POST /v1/chat/completions, GET /v1/models,
// GET /health /livez /ready /readyz /metrics /v1/workers, GET / (the web
// page or "is running"), Ollama's /api/chat /api/generate /api/tags /api/show
// /api/ps /api/version. Unknown paths get 404 not_found, known paths with
// another method 405 method_not_allowed; under /api/ in Ollama's error shape.
// With an API key every route but /, /health, /livez, /ready, /readyz,
// /api/version needs "Authorization: Bearer KEY" (constant-time
// comparison), else 401.
//
// Thread-safety: none; the event-loop thread only.
#pragma once

#include <memory>

#include "front/context.h"
#include "front/exchange.h"

namespace vigil::front {

class Router {
 public:
  Router(supervisor::Dispatcher& dispatcher, FrontOptions options);
  void Handle(const std::shared_ptr<Exchange>& exchange);
  // Passed to every Exchange the server creates.
  OutcomeHook Hook();
  FrontContext& context() { return context_; }

 private:
  bool Authorized(const Request& request) const;
  FrontContext context_;
};

}  // namespace vigil::front
