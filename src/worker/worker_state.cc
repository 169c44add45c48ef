#include "worker/worker_state.h"

namespace vigil::worker {

static_assert(std::atomic<Phase>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kIdle: return "idle";
    case Phase::kLoad: return "load";
    case Phase::kImageDecode: return "image_decode";
    case Phase::kImageEncode: return "image_encode";
    case Phase::kPrefill: return "prefill";
    case Phase::kDecode: return "decode";
  }
  return "unknown";
}

}  // namespace vigil::worker
