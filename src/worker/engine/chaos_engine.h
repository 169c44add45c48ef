// chaos_engine.h: an engine without a model, for supervisor and front tests
// that must run in milliseconds.
//
// It generates words "chaos-<n>" (n derived from prompt and seed, so the same
// job yields the same text) at --chaos-tokens-per-second, honouring
// max_tokens (0 means 16), stop strings and cancellation like a real engine.
// A prompt is counted as one token per word (+16 for an image); more tokens
// than --ctx fail with kPromptTooLong. Load takes --chaos-load-ms.
// Thread-safety: see engine.h.
#pragma once

#include "worker/engine/engine.h"

namespace vigil::worker {

class ChaosEngine final : public Engine {
 public:
  Result<protocol::ModelFacts> Load(const EngineOptions& options,
                                    const std::function<void()>& advance) override;
  int image_size() const override { return kImageSize; }
  Result<RunStats> Run(const EngineJob& job, JobEvents& events) override;

  static constexpr int kImageSize = 896;  // Gemma 3's, so downscaling is exercised
  static constexpr int kImageTokens = 16;
  static constexpr int64_t kDefaultMaxTokens = 16;

 private:
  EngineOptions options_;
};

}  // namespace vigil::worker
