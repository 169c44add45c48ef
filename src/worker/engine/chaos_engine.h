// chaos_engine.h: an engine without a model, for supervisor and front tests
// that must run in milliseconds.
//
// It generates words "chaos-<n>" (n derived from prompt and seed, so the same
// job yields the same text whatever else runs) at --chaos-tokens-per-second
// per running job, up to --jobs jobs at once, honouring max_tokens (0 means
// 16), stop strings and cancellation like a real engine. A prompt is counted
// as one token per word (+16 per image); more tokens than --ctx fail with
// kPromptTooLong. A newcomer's first Step is its "prefill" (Progress frames,
// no waiting); later Steps hand out the tokens that fell due, or sleep a
// couple of ms when none did. Load takes --chaos-load-ms.
// Thread-safety: see engine.h.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "worker/engine/engine.h"

namespace vigil::worker {

class ChaosEngine final : public Engine {
 public:
  Result<protocol::ModelFacts> Load(const EngineOptions& options,
                                    const std::function<void()>& advance) override;
  int image_size() const override { return kImageSize; }
  int capacity() const override { return options_.capacity; }
  void Admit(const EngineJob& job, JobEvents& events) override;
  void Step() override;
  int Running() const override { return static_cast<int>(jobs_.size()); }

  static constexpr int kImageSize = 896;  // Gemma 3's, so downscaling is exercised
  static constexpr int kImageTokens = 16;
  static constexpr int64_t kDefaultMaxTokens = 16;

 private:
  using Clock = std::chrono::steady_clock;
  struct Job {
    JobEvents* events = nullptr;
    int64_t images = 0;
    bool started = false;  // prefilled; tokens fall due from decode_start
    int64_t limit = 0;
    uint64_t rng = 0;
    std::vector<int32_t> resume;  // words a dead worker generated: replayed at once
    Clock::time_point decode_start;
    RunStats stats;
  };

  void Prefill(Job& job);
  // Emits the job's next token; false when the job ended.
  bool Emit(Job& job);
  void Finish(size_t index, const char* reason);
  Clock::time_point Due(const Job& job) const;

  EngineOptions options_;
  Clock::duration interval_{};
  std::vector<std::unique_ptr<Job>> jobs_;  // admission order
};

}  // namespace vigil::worker
