// GET /health, /livez: the supervisor's event loop answers, so it lives.
// This says nothing about workers on purpose: /ready does.
#include "front/routes/routes.h"

namespace vigil::front {

void HandleHealth(FrontContext& /*ctx*/, const std::shared_ptr<Exchange>& ex) {
  ex->RespondJson(200, {{"status", "ok"}});
}

}  // namespace vigil::front
