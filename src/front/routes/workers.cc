// GET /v1/workers: each worker's state, pid, uptime, jobs served and recent
// crash reports, as the supervisor describes them, plus how the server was
// sized ("tuning": what `vigil serve` chose or was told).
#include "front/routes/routes.h"

namespace vigil::front {

void HandleWorkers(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  nlohmann::json body = ctx.dispatcher.WorkersJson();
  body["tuning"] = ctx.options.tuning;
  ex->RespondJson(200, body);
}

}  // namespace vigil::front
