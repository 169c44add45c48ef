// GET /metrics: the front's metrics, then the supervisor's, as Prometheus text.
#include "front/routes/routes.h"

namespace vigil::front {

void HandleMetrics(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  std::string out;
  ctx.metrics.Render(out);
  ctx.dispatcher.AppendMetrics(out);
  ex->Respond(200, "text/plain; version=0.0.4; charset=utf-8", std::move(out));
}

}  // namespace vigil::front
