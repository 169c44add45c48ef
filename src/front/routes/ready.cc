// GET /ready, /readyz: 200 when a worker can take a job and the server is not
// draining (Dispatcher::GetReadiness), else 503 not_ready with the reason.
#include "front/routes/routes.h"

namespace vigil::front {

void HandleReady(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  const supervisor::Readiness r = ctx.dispatcher.GetReadiness();
  if (r.ready) {
    ex->RespondJson(200, {{"status", "ready"}});
    return;
  }
  ex->RespondError(MakeError(ErrorCode::kNotReady, r.reason.empty() ? "not ready" : r.reason));
}

}  // namespace vigil::front
