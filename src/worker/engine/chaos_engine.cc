#include "worker/engine/chaos_engine.h"

#include <chrono>
#include <sstream>
#include <thread>

namespace vigil::worker {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t SplitMix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

int64_t CountWords(const std::string& s) {
  std::istringstream in(s);
  int64_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Sleeps until `when`, waking every few ms to poll for cancellation.
// Returns false if cancelled.
bool SleepUntil(Clock::time_point when, const JobEvents& events) {
  for (;;) {
    if (events.cancelled()) return false;
    const auto now = Clock::now();
    if (now >= when) return true;
    std::this_thread::sleep_for(std::min<Clock::duration>(when - now, std::chrono::milliseconds(2)));
  }
}

}  // namespace

Result<protocol::ModelFacts> ChaosEngine::Load(const EngineOptions& options,
                                               const std::function<void()>& advance) {
  options_ = options;
  const auto end = Clock::now() + std::chrono::milliseconds(options.chaos_load_ms);
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::min<Clock::duration>(end - Clock::now(), std::chrono::milliseconds(10)));
    advance();
  }
  protocol::ModelFacts f;
  f.name = "chaos";
  f.arch = "chaos";
  f.n_ctx = options.ctx;
  f.n_ctx_train = options.ctx;
  f.image_size = kImageSize;
  f.device = "CPU";
  return f;
}

Result<RunStats> ChaosEngine::Run(const EngineJob& job, JobEvents& events) {
  RunStats stats;
  const int64_t prompt_tokens = CountWords(job.prompt) + (job.image ? kImageTokens : 0);
  if (prompt_tokens >= options_.ctx) {
    return MakeError(ErrorCode::kPromptTooLong,
                     "prompt is " + std::to_string(prompt_tokens) + " tokens; the context holds " +
                         std::to_string(options_.ctx));
  }
  stats.usage.prompt_tokens = prompt_tokens;
  auto t0 = Clock::now();
  if (job.image) {
    events.OnProgress(Phase::kImageEncode, 0, 1);
    events.OnProgress(Phase::kImageEncode, 1, 1);
    stats.timings.image_encode_ms = Ms(Clock::now() - t0);
  }
  auto t1 = Clock::now();
  events.OnProgress(Phase::kPrefill, prompt_tokens, prompt_tokens);
  stats.timings.prefill_ms = Ms(Clock::now() - t1);

  events.OnDecodeStart();
  const auto t2 = Clock::now();
  const int64_t max_tokens = job.params.max_tokens > 0 ? job.params.max_tokens : kDefaultMaxTokens;
  const int64_t limit = std::min(max_tokens, options_.ctx - prompt_tokens);
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / options_.chaos_tokens_per_second));
  uint64_t rng = Fnv1a(job.prompt) ^ job.params.seed;
  stats.finish_reason = "length";
  for (int64_t i = 0; i < limit; ++i) {
    if (!SleepUntil(t2 + interval * (i + 1), events)) {
      stats.finish_reason = "cancelled";
      break;
    }
    std::string word = (i ? " chaos-" : "chaos-") + std::to_string(SplitMix(rng) % 1000);
    ++stats.usage.completion_tokens;
    events.OnAdvance();
    if (!events.OnToken(word)) {
      stats.finish_reason = "stop";
      break;
    }
  }
  stats.timings.decode_ms = Ms(Clock::now() - t2);
  return stats;
}

}  // namespace vigil::worker
