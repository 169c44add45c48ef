// GET /v1/workers: each worker's state, pid, uptime, jobs served and recent
// crash reports, from the supervisor's snapshot (status_render.h), plus how the server was
// sized ("tuning": what `vigil serve` chose or was told).
#include "front/routes/routes.h"
#include "front/status_render.h"

namespace vigil::front {

void HandleWorkers(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  nlohmann::json body = WorkersJson(ctx.dispatcher.Snapshot());
  body["tuning"] = ctx.options.tuning;
  ex->RespondJson(200, body);
}

}  // namespace vigil::front
