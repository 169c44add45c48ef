// GET /v1/workers: each worker's state, pid, uptime, jobs served and recent
// crash reports, as the supervisor describes them.
#include "front/routes/routes.h"

namespace vigil::front {

void HandleWorkers(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  ex->RespondJson(200, ctx.dispatcher.WorkersJson());
}

}  // namespace vigil::front
