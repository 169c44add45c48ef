// GET /metrics: the front's metrics, then the supervisor's, as Prometheus text.
#include "front/routes/routes.h"
#include "front/status_render.h"

namespace vigil::front {

void HandleMetrics(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  std::string out;
  PrometheusWriter writer(out);
  ctx.metrics.Render(writer);
  WriteSupervisorMetrics(writer, ctx.dispatcher.Snapshot());
  ex->Respond(200, "text/plain; version=0.0.4; charset=utf-8", std::move(out));
}

}  // namespace vigil::front
