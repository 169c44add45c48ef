// LlamaEngine: admitting a job (prompt, tokens, sequence, sampler) and
// ending one (freeing its sequence).
#include <mtmd-helper.h>

#include <algorithm>
#include <cmath>

#include "worker/engine/llama_engine.h"

namespace vigil::worker {
namespace {

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

Error Internal(std::string what) { return MakeError(ErrorCode::kInternal, std::move(what)); }

}  // namespace

void LlamaEngine::Admit(const EngineJob& ejob, JobEvents& events) {
  Result<std::string> prompt = FormatPrompt(ejob);
  if (!prompt) return events.OnFailed(prompt.error());
  Result<mtmd::input_chunks_ptr> chunks = Tokenize(*prompt, ejob.images);
  if (!chunks) return events.OnFailed(chunks.error());

  const mtmd_input_chunks* c = chunks->get();
  const size_t n_tokens = mtmd_helper_get_n_tokens(c);
  const llama_pos n_pos = mtmd_helper_get_n_pos(c);
  if (n_pos + static_cast<llama_pos>(ejob.resume_tokens.size()) >= ctx_per_job_) {  // room for one more
    return events.OnFailed(MakeError(
        ErrorCode::kPromptTooLong, "prompt is " + std::to_string(n_tokens) +
                                       " tokens; the context holds " + std::to_string(ctx_per_job_)));
  }
  const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
  for (int32_t t : ejob.resume_tokens) {
    if (t < 0 || t >= n_vocab) {
      return events.OnFailed(MakeError(ErrorCode::kInvalidRequest, "resume token out of the vocabulary"));
    }
  }
  const size_t n_chunks = mtmd_input_chunks_size(c);
  if (n_chunks == 0 || mtmd_input_chunk_get_type(mtmd_input_chunks_get(c, n_chunks - 1)) !=
                           MTMD_INPUT_CHUNK_TYPE_TEXT) {
    return events.OnFailed(Internal("prompt ends with an image; no logits to sample from"));
  }
  auto job = std::make_unique<Job>();
  job->events = &events;
  job->seq = free_seqs_.back();  // REQUIRES Running() < capacity(): one is free
  free_seqs_.pop_back();
  job->params = ejob.params;
  job->limit = ejob.params.max_tokens > 0 ? ejob.params.max_tokens : INT64_MAX;
  job->chunks = std::move(*chunks);
  job->resume.assign(ejob.resume_tokens.begin(), ejob.resume_tokens.end());
  job->prompt_tokens = static_cast<int64_t>(n_tokens);
  job->n_images = static_cast<int64_t>(ejob.images.size());
  job->sampler.reset(MakeSampler(ejob.params));
  job->prefill_start = Clock::now();
  job->stats.usage.prompt_tokens = job->prompt_tokens;
  job->stats.finish_reason = "length";
  events.OnProgress(Phase::kPrefill, 0, job->prompt_tokens);
  jobs_.push_back(std::move(job));
}

void LlamaEngine::Release(Job& job) {
  // The sequence's cells go back to the shared KV buffer now, not at the
  // next job: a later newcomer may need them.
  llama_memory_seq_rm(llama_get_memory(ctx_), job.seq, -1, -1);
  free_seqs_.push_back(job.seq);
}

void LlamaEngine::Finish(size_t i, const char* reason) {
  std::unique_ptr<Job> job = std::move(jobs_[i]);
  jobs_.erase(jobs_.begin() + static_cast<std::ptrdiff_t>(i));
  Release(*job);
  if (reason) job->stats.finish_reason = reason;
  if (job->generating) job->stats.timings.decode_ms = Ms(Clock::now() - job->decode_start);
  job->events->OnFinished(job->stats);
}

void LlamaEngine::Fail(size_t i, const Error& error) {
  std::unique_ptr<Job> job = std::move(jobs_[i]);
  jobs_.erase(jobs_.begin() + static_cast<std::ptrdiff_t>(i));
  Release(*job);
  job->events->OnFailed(error);
}

llama_sampler* LlamaEngine::MakeSampler(const protocol::SamplingParams& p) const {
  llama_sampler* chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
  if (p.ignore_eos) {
    llama_sampler_chain_add(chain, llama_sampler_init_logit_bias(
                                       llama_vocab_n_tokens(vocab_),
                                       static_cast<int32_t>(eog_bias_.size()), eog_bias_.data()));
  }
  if (p.temperature <= 0) {
    llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    return chain;
  }
  if (p.top_k > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(static_cast<int32_t>(p.top_k)));
  if (p.top_p < 1) llama_sampler_chain_add(chain, llama_sampler_init_top_p(static_cast<float>(p.top_p), 1));
  llama_sampler_chain_add(chain, llama_sampler_init_temp(static_cast<float>(p.temperature)));
  // LLAMA_DEFAULT_SEED (0xFFFFFFFF) would mean "random": fold it away so a
  // job's seed always means the same stream.
  uint32_t seed = static_cast<uint32_t>(p.seed ^ (p.seed >> 32));
  if (seed == LLAMA_DEFAULT_SEED) seed = 0;
  llama_sampler_chain_add(chain, llama_sampler_init_dist(seed));
  return chain;
}

std::string LlamaEngine::TokenToPiece(llama_token token) const {
  std::string piece(64, '\0');
  int32_t n = llama_token_to_piece(vocab_, token, piece.data(), static_cast<int32_t>(piece.size()),
                                   0, /*special=*/false);
  if (n < 0) {
    piece.resize(static_cast<size_t>(-n));
    n = llama_token_to_piece(vocab_, token, piece.data(), -n, 0, false);
  }
  piece.resize(static_cast<size_t>(std::max(n, 0)));
  return piece;
}

}  // namespace vigil::worker
