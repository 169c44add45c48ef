#include "worker/engine/chaos_engine.h"

#include <algorithm>
#include <sstream>
#include <thread>

namespace vigil::worker {
namespace {

using Clock = std::chrono::steady_clock;

// The longest a Step sleeps waiting for a token, so a newcomer or a cancel
// is seen within a few ms (the worker loop admits between steps).
constexpr auto kMaxNap = std::chrono::milliseconds(2);

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

}  // namespace

Result<protocol::ModelFacts> ChaosEngine::Load(const EngineOptions& options,
                                               const std::function<void()>& advance) {
  options_ = options;
  options_.capacity = std::max(options.capacity, 1);
  interval_ = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / options.chaos_tokens_per_second));
  const auto end = Clock::now() + std::chrono::milliseconds(options.chaos_load_ms);
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::min<Clock::duration>(end - Clock::now(), std::chrono::milliseconds(10)));
    advance();
  }
  protocol::ModelFacts f;
  f.name = "chaos";
  if (!options.model_name.empty()) f.name = options.model_name;
  f.arch = "chaos";
  f.n_ctx = options.ctx;
  f.n_ctx_train = options.ctx;
  f.image_size = kImageSize;
  f.device = "CPU";
  return f;
}

void ChaosEngine::Admit(const EngineJob& ejob, JobEvents& events) {
  const int64_t n_images = static_cast<int64_t>(ejob.images.size());
  const int64_t prompt_tokens = CountWords(ejob.prompt) + n_images * kImageTokens;
  if (prompt_tokens >= options_.ctx) {
    return events.OnFailed(MakeError(
        ErrorCode::kPromptTooLong, "prompt is " + std::to_string(prompt_tokens) +
                                       " tokens; the context holds " + std::to_string(options_.ctx)));
  }
  auto job = std::make_unique<Job>();
  job->events = &events;
  job->images = n_images;
  job->stats.usage.prompt_tokens = prompt_tokens;
  const int64_t max_tokens = ejob.params.max_tokens > 0 ? ejob.params.max_tokens : kDefaultMaxTokens;
  job->limit = std::min(max_tokens, options_.ctx - prompt_tokens);
  job->rng = Fnv1a(ejob.prompt) ^ ejob.params.seed;
  job->resume = ejob.resume_tokens;
  job->stats.finish_reason = "length";
  jobs_.push_back(std::move(job));
}

void ChaosEngine::Prefill(Job& job) {
  JobEvents& ev = *job.events;
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < job.images; ++i) {
    const int64_t number = job.images > 1 ? i + 1 : 0;
    ev.OnWork(Phase::kImageEncode);
    ev.OnProgress(Phase::kImageEncode, 0, 1, number);
    ev.OnProgress(Phase::kImageEncode, 1, 1, number);
  }
  job.stats.timings.image_encode_ms = Ms(Clock::now() - t0);
  const auto t1 = Clock::now();
  const int64_t n = job.stats.usage.prompt_tokens;
  ev.OnWork(Phase::kPrefill);
  ev.OnProgress(Phase::kPrefill, n, n);
  job.stats.timings.prefill_ms = Ms(Clock::now() - t1);
  job.started = true;
  job.decode_start = Clock::now();
  ev.OnDecodeStart();
  // Resumed words: the same stream again, at once (the text is a function of
  // the word numbers), then the next words fall due from now.
  for (int32_t word : job.resume) {
    if (job.stats.usage.completion_tokens >= job.limit) break;
    SplitMix(job.rng);
    const int64_t i = job.stats.usage.completion_tokens++;
    if (!ev.OnToken((i ? " chaos-" : "chaos-") + std::to_string(word), word)) {
      job.limit = job.stats.usage.completion_tokens;  // a stop string: ends at the next Emit check
      job.stats.finish_reason = "stop";
      break;
    }
  }
  job.decode_start -= interval_ * job.stats.usage.completion_tokens;
}

Clock::time_point ChaosEngine::Due(const Job& job) const {
  return job.decode_start + interval_ * (job.stats.usage.completion_tokens + 1);
}

bool ChaosEngine::Emit(Job& job) {
  const int64_t i = job.stats.usage.completion_tokens;
  const int32_t number = static_cast<int32_t>(SplitMix(job.rng) % 1000);
  const std::string word = (i ? " chaos-" : "chaos-") + std::to_string(number);
  ++job.stats.usage.completion_tokens;
  job.events->OnAdvance();
  if (!job.events->OnToken(word, number)) {
    job.stats.finish_reason = "stop";
    return false;
  }
  return job.stats.usage.completion_tokens < job.limit;
}

void ChaosEngine::Finish(size_t index, const char* reason) {
  std::unique_ptr<Job> job = std::move(jobs_[index]);
  jobs_.erase(jobs_.begin() + static_cast<std::ptrdiff_t>(index));
  if (reason) job->stats.finish_reason = reason;
  if (job->started) job->stats.timings.decode_ms = Ms(Clock::now() - job->decode_start);
  job->events->OnFinished(job->stats);
}

void ChaosEngine::Step() {
  for (size_t i = 0; i < jobs_.size();) {
    if (jobs_[i]->events->cancelled()) {
      Finish(i, "cancelled");
    } else {
      ++i;
    }
  }
  // A newcomer's prefill is a step of its own, as in the llama engine.
  for (auto& job : jobs_) {
    if (!job->started) {
      Prefill(*job);
      if (job->stats.usage.completion_tokens >= job->limit) Finish(static_cast<size_t>(&job - jobs_.data()), nullptr);
      return;
    }
  }
  if (jobs_.empty()) return;
  jobs_.front()->events->OnWork(Phase::kDecode);
  const auto now = Clock::now();
  Clock::time_point next = now + kMaxNap;
  bool emitted = false;
  for (size_t i = 0; i < jobs_.size();) {
    Job& job = *jobs_[i];
    if (Due(job) <= now) {
      emitted = true;
      if (!Emit(job)) {
        Finish(i, nullptr);
        continue;
      }
    }
    next = std::min(next, Due(job));
    ++i;
  }
  if (!emitted && next > now) std::this_thread::sleep_until(next);
}

}  // namespace vigil::worker
