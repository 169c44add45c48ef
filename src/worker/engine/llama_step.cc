// LlamaEngine::Step: one image of a newcomer, or one llama_decode for every
// running job (generating tokens plus prompt text), then sampling.
#include <mtmd-helper.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/log.h"
#include "worker/engine/llama_engine.h"

namespace vigil::worker {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

Error Internal(std::string what) { return MakeError(ErrorCode::kInternal, std::move(what)); }

void AddToken(llama_batch& b, llama_token token, llama_pos pos, llama_seq_id seq, bool logits) {
  const int32_t i = b.n_tokens++;
  b.token[i] = token;
  b.pos[i] = pos;
  b.n_seq_id[i] = 1;
  b.seq_id[i][0] = seq;
  b.logits[i] = logits;
}

}  // namespace

void LlamaEngine::Step() {
  EndCancelled();
  if (jobs_.empty()) return;
  if (Job* job = NextImage()) return StepImage(*job);
  StepBatch();
}

void LlamaEngine::EndCancelled() {
  for (size_t i = 0; i < jobs_.size();) {
    if (jobs_[i]->events->cancelled()) {
      Finish(i, "cancelled");
    } else {
      ++i;
    }
  }
}

LlamaEngine::Job* LlamaEngine::NextImage() {
  for (auto& job : jobs_) {
    if (job->generating || job->chunk >= mtmd_input_chunks_size(job->chunks.get())) continue;
    const mtmd_input_chunk* chunk = mtmd_input_chunks_get(job->chunks.get(), job->chunk);
    if (mtmd_input_chunk_get_type(chunk) != MTMD_INPUT_CHUNK_TYPE_TEXT) return job.get();
  }
  return nullptr;
}

Status LlamaEngine::DecodeStatus(int32_t rc) const {
  if (rc == 0) return OkStatus();
  // -2: the compute buffers could not be allocated (llama-context.cpp maps
  // GGML_STATUS_ALLOC_FAILED to it); the step needs more memory than the device has.
  if (rc == -2) return MakeError(ErrorCode::kOutOfMemory, "out of memory: llama_decode could not allocate");
  return Internal("llama_decode failed: " + std::to_string(rc));
}

// Encodes the newcomer's image (or finds it in the cache), then decodes the
// embeddings into its own sequence. Other jobs wait for this step, as in
// llama-server: the encoder and the decode share the device.
void LlamaEngine::StepImage(Job& job) {
  const size_t index = static_cast<size_t>(
      std::find_if(jobs_.begin(), jobs_.end(), [&](auto& j) { return j.get() == &job; }) - jobs_.begin());
  const mtmd_input_chunk* chunk = mtmd_input_chunks_get(job.chunks.get(), job.chunk);
  JobEvents& ev = *job.events;
  // The chunk's id is "<cache key>:<image number>" (Tokenize); the cache
  // key adds the chunk's ordinal among that image's chunks.
  const char* raw_id = mtmd_input_chunk_get_id(chunk);
  const std::string id = raw_id ? raw_id : "";
  const size_t colon = id.rfind(':');
  const std::string sha = id.substr(0, colon == std::string::npos ? 0 : colon);
  const int64_t number = colon == std::string::npos ? 0 : std::atoll(id.c_str() + colon + 1);
  const int ordinal = job.image_chunk_index[id]++;
  const std::string key = sha.empty() ? std::string() : sha + "#" + std::to_string(ordinal);
  const int64_t progress_image = job.n_images > 1 ? number : 0;
  ev.OnWork(Phase::kImageEncode);
  ev.OnProgress(Phase::kImageEncode, 0, 1, progress_image);
  computing_ = {&ev};
  const auto t = Clock::now();
  Result<EmbeddingCache::Embeddings> embd = ImageEmbeddings(chunk, key, ev);
  computing_.clear();
  if (!embd) return Fail(index, embd.error());
  if (!*embd) return Finish(index, "cancelled");
  job.stats.timings.image_encode_ms += Ms(Clock::now() - t);
  ev.OnProgress(Phase::kImageEncode, 1, 1, progress_image);

  ev.OnWork(Phase::kPrefill);
  llama_pos new_n_past = job.n_past;
  computing_ = {&ev};
  const int32_t rd = mtmd_helper_decode_image_chunk(mtmd_, ctx_, chunk, (*embd)->data(), job.n_past,
                                                    job.seq, n_batch_, &new_n_past, nullptr, nullptr);
  computing_.clear();
  if (ev.cancelled()) return Finish(index, "cancelled");
  if (Status s = DecodeStatus(rd); !s) return Fail(index, s.error());
  job.n_past = new_n_past;
  ++job.chunk;
  job.prefilled += static_cast<int64_t>(mtmd_input_chunk_get_n_tokens(chunk));
  ev.OnProgress(Phase::kPrefill, job.prefilled, job.prompt_tokens);
}

// Prompt text of prefilling jobs, oldest first, in what room the generating
// tokens left in n_batch. A job's text goes in up to its chunk's end; the
// prompt's last token asks for logits (the first sample).
void LlamaEngine::AddPromptText(std::vector<Job*>& in_batch) {
  for (auto& jp : jobs_) {
    Job& job = *jp;
    job.in_step = 0;
    const int32_t room = n_batch_ - batch_.n_tokens;
    if (job.generating || room <= 0) continue;
    size_t n = 0;
    bool last_segment = false;
    const llama_token* tokens = PromptText(job, &n, &last_segment);
    if (!tokens) continue;  // an image comes next
    const size_t len = std::min(n - job.chunk_done, static_cast<size_t>(room));
    const bool last = last_segment && job.chunk_done + len == n;
    for (size_t i = 0; i < len; ++i) {
      const bool logits = last && i + 1 == len;
      if (logits) job.logits_at = batch_.n_tokens;
      AddToken(batch_, tokens[job.chunk_done + i], job.n_past + static_cast<llama_pos>(i), job.seq,
               logits);
    }
    job.in_step = static_cast<int32_t>(len);
    in_batch.push_back(&job);
  }
}

void LlamaEngine::StepBatch() {
  batch_.n_tokens = 0;
  std::vector<Job*> in_batch;
  for (auto& job : jobs_) {
    job->in_step = 0;
    if (!job->generating) continue;
    job->logits_at = batch_.n_tokens;
    AddToken(batch_, job->pending, job->n_past, job->seq, true);
    in_batch.push_back(job.get());
  }
  const bool decoding = !in_batch.empty();
  AddPromptText(in_batch);
  if (in_batch.empty()) return;
  in_batch.front()->events->OnWork(decoding ? Phase::kDecode : Phase::kPrefill);
  for (Job* job : in_batch) computing_.push_back(job->events);
  const int32_t rc = llama_decode(ctx_, batch_);
  computing_.clear();
  if (rc == 2) {  // aborted: every job in it was cancelled
    for (Job* job : in_batch) job->logits_at = -1;
    return EndCancelled();
  }
  if (Status s = DecodeStatus(rc); !s) return EndBatch(in_batch, s.error());
  for (Job* job : in_batch) {
    if (job->generating) {
      ++job->n_past;
      continue;
    }
    size_t n = 0;
    bool last_segment = false;
    PromptText(*job, &n, &last_segment);
    const bool resume_segment = job->chunk >= mtmd_input_chunks_size(job->chunks.get());
    job->n_past += job->in_step;
    job->chunk_done += static_cast<size_t>(job->in_step);
    if (!resume_segment) job->prefilled += job->in_step;
    if (job->chunk_done == n) {
      ++job->chunk;
      job->chunk_done = 0;
    }
    job->events->OnProgress(Phase::kPrefill, job->prefilled, job->prompt_tokens);
  }
  for (size_t i = 0; i < jobs_.size();) {
    Job& job = *jobs_[i];
    if (job.logits_at < 0) {
      ++i;
      continue;
    }
    if (!job.generating) AfterPrompt(job);
    const char* reason = nullptr;
    if (Sample(job, &reason)) {
      ++i;
    } else {
      Finish(i, reason);
    }
  }
}

void LlamaEngine::AfterPrompt(Job& job) {
  job.stats.timings.prefill_ms =
      Ms(Clock::now() - job.prefill_start) - job.stats.timings.image_encode_ms;
  job.generating = true;
  job.events->OnWork(Phase::kDecode);
  job.events->OnDecodeStart();
  job.decode_start = Clock::now();
}

const llama_token* LlamaEngine::PromptText(const Job& job, size_t* n, bool* last) const {
  const size_t n_chunks = mtmd_input_chunks_size(job.chunks.get());
  if (job.chunk < n_chunks) {
    const mtmd_input_chunk* chunk = mtmd_input_chunks_get(job.chunks.get(), job.chunk);
    if (mtmd_input_chunk_get_type(chunk) != MTMD_INPUT_CHUNK_TYPE_TEXT) return nullptr;
    *last = job.chunk + 1 == n_chunks && job.resume.empty();
    return mtmd_input_chunk_get_tokens_text(chunk, n);
  }
  if (job.chunk > n_chunks || job.resume.empty()) return nullptr;
  *last = true;
  *n = job.resume.size();
  return job.resume.data();
}

// The resumed tokens were generated by the worker that died: their text goes
// out again through the same stream (the supervisor passes on only what the
// client has not seen), and they count toward max_tokens.
bool LlamaEngine::EmitResumed(Job& job, const char** reason) {
  job.resumed = true;
  for (llama_token token : job.resume) {
    ++job.stats.usage.completion_tokens;
    if (!job.events->OnToken(TokenToPiece(token), token)) {
      *reason = "stop";
      return false;
    }
  }
  if (job.stats.usage.completion_tokens >= job.limit) {
    *reason = "length";
    return false;
  }
  return true;
}

bool LlamaEngine::Sample(Job& job, const char** reason) {
  const int32_t at = std::exchange(job.logits_at, -1);
  if (job.events->cancelled()) {
    *reason = "cancelled";
    return false;
  }
  if (!job.resumed && !EmitResumed(job, reason)) return false;
  const llama_token token = llama_sampler_sample(job.sampler.get(), ctx_, at);
  if (!job.params.ignore_eos && llama_vocab_is_eog(vocab_, token)) {
    *reason = "stop";
    return false;
  }
  ++job.stats.usage.completion_tokens;
  job.events->OnAdvance();
  if (!job.events->OnToken(TokenToPiece(token), token)) {
    *reason = "stop";
    return false;
  }
  if (job.stats.usage.completion_tokens >= job.limit || job.n_past >= ctx_per_job_) {
    *reason = "length";
    return false;
  }
  job.pending = token;
  return true;
}

// A step that failed fails every job it carried: their sequences may hold
// part of it, and the error (memory, the library) is the step's.
void LlamaEngine::EndBatch(const std::vector<Job*>& in_batch, const Error& error) {
  for (size_t i = 0; i < jobs_.size();) {
    if (std::find(in_batch.begin(), in_batch.end(), jobs_[i].get()) != in_batch.end()) {
      jobs_[i]->logits_at = -1;
      Fail(i, error);
    } else {
      ++i;
    }
  }
}

Result<EmbeddingCache::Embeddings> LlamaEngine::ImageEmbeddings(const mtmd_input_chunk* chunk,
                                                                const std::string& key,
                                                                JobEvents& events) {
  const size_t n_tokens = mtmd_input_chunk_get_n_tokens(chunk);
  const size_t n_floats = n_tokens * static_cast<size_t>(llama_model_n_embd_inp(model_));
  const auto start = Clock::now();
  if (!key.empty()) {
    EmbeddingCache::Embeddings hit = image_cache_.Find(key);
    if (hit && hit->size() == n_floats) {
      LogInfo("image_cache_hit", {{"key", key.substr(0, 16)}, {"tokens", n_tokens},
                                  {"cached", image_cache_.size()}, {"cached_mib", image_cache_.bytes() / 1048576.0}});
      return hit;
    }
  }
  eval_nodes_ = 0;
  const int32_t rc = mtmd_encode_chunk(mtmd_, chunk);
  // A cancelled encode may report success with partial embeddings
  // (OnEncodeEval): check before trusting, and never cache them.
  if (events.cancelled()) return EmbeddingCache::Embeddings();
  if (rc != 0) return Internal("image encode failed: " + std::to_string(rc));
  const float* out = mtmd_get_output_embd(mtmd_);
  if (!out) return Internal("image encode produced no embeddings");
  auto embd = std::make_shared<std::vector<float>>(out, out + n_floats);
  if (!key.empty()) {
    image_cache_.Insert(key, embd);
    LogInfo("image_cache_missed", {{"key", key.substr(0, 16)}, {"tokens", n_tokens},
                                   {"encode_ms", std::lround(Ms(Clock::now() - start))},
                                   {"cached", image_cache_.size()}, {"cached_mib", image_cache_.bytes() / 1048576.0}});
  }
  return embd;
}

}  // namespace vigil::worker
