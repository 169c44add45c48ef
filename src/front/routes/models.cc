// GET /v1/models: the one model this server runs, in OpenAI's list shape.
#include <chrono>

#include "front/routes/routes.h"

namespace vigil::front {

void HandleModels(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(ctx.started.time_since_epoch()).count();
  ex->RespondJson(200, {{"object", "list"},
                        {"data", nlohmann::json::array({{{"id", ctx.dispatcher.ModelName()},
                                                         {"object", "model"},
                                                         {"created", created},
                                                         {"owned_by", "vigil"}}})}});
}

}  // namespace vigil::front
