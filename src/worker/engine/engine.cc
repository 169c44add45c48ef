#include "worker/engine/engine.h"

#include "worker/engine/chaos_engine.h"
#include "worker/engine/llama_engine.h"

namespace vigil::worker {

std::unique_ptr<Engine> MakeEngine(std::string_view name) {
  if (name == "llama") return std::make_unique<LlamaEngine>();
  if (name == "chaos") return std::make_unique<ChaosEngine>();
  return nullptr;
}

}  // namespace vigil::worker
