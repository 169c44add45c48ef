// GET /v1/models: the one model this server runs, in OpenAI's list shape,
// plus how its prompts are formatted ("chat_template": "gguf" for the
// model's own template, "builtin:chatml" when it has none), as the first
// loaded worker reports it.
#include <chrono>

#include "front/routes/routes.h"

namespace vigil::front {

void HandleModels(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(ctx.started.time_since_epoch()).count();
  nlohmann::json model = {{"id", ctx.dispatcher.ModelName()}, {"object", "model"}, {"created", created},
                          {"owned_by", "vigil"}};
  for (const auto& slot : ctx.dispatcher.Snapshot().slots) {
    if (slot.worker && slot.worker->loaded && !slot.worker->loaded->model.chat_template.empty()) {
      model["chat_template"] = slot.worker->loaded->model.chat_template;
      break;
    }
  }
  ex->RespondJson(200, {{"object", "list"}, {"data", nlohmann::json::array({std::move(model)})}});
}

}  // namespace vigil::front
