// LlamaEngine::Run: prompt, tokenize, prefill (image encode + decode), sample.
#include <mtmd-helper.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "worker/engine/llama_engine.h"

namespace vigil::worker {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

Error Internal(std::string what) { return MakeError(ErrorCode::kInternal, std::move(what)); }

struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};

// Publishes the running job to the compute callbacks for the scope of Run.
class ActiveJob {
 public:
  ActiveJob(std::atomic<JobEvents*>& slot, JobEvents* events) : slot_(slot) { slot_ = events; }
  ~ActiveJob() { slot_ = nullptr; }

 private:
  std::atomic<JobEvents*>& slot_;
};

}  // namespace

Result<RunStats> LlamaEngine::Run(const EngineJob& job, JobEvents& events) {
  ActiveJob active(events_, &events);
  RunStats stats;
  Result<std::string> prompt = FormatPrompt(job.prompt, job.image != nullptr);
  if (!prompt) return prompt.error();
  Result<mtmd::input_chunks_ptr> chunks = Tokenize(*prompt, job.image);
  if (!chunks) return chunks.error();

  const size_t n_tokens = mtmd_helper_get_n_tokens(chunks->get());
  const llama_pos n_pos = mtmd_helper_get_n_pos(chunks->get());
  const llama_pos n_ctx = static_cast<llama_pos>(llama_n_ctx(ctx_));
  if (n_pos >= n_ctx) {  // room for at least one generated token
    return MakeError(ErrorCode::kPromptTooLong, "prompt is " + std::to_string(n_tokens) +
                                                    " tokens; the context holds " +
                                                    std::to_string(n_ctx));
  }
  stats.usage.prompt_tokens = static_cast<int64_t>(n_tokens);

  llama_memory_clear(llama_get_memory(ctx_), true);
  Result<Prefilled> prefilled = Prefill(chunks->get(), events, stats);
  if (!prefilled) return prefilled.error();
  if (prefilled->cancelled) {
    stats.finish_reason = "cancelled";
    return stats;
  }
  if (Status s = Generate(job.params, prefilled->n_past, events, stats); !s) return s.error();
  return stats;
}

Result<std::string> LlamaEngine::FormatPrompt(const std::string& prompt, bool with_image) const {
  const std::string marker = mtmd_default_marker();
  if (prompt.find(marker) != std::string::npos) {
    return MakeError(ErrorCode::kInvalidRequest, "prompt contains the reserved marker " + marker);
  }
  const std::string content = with_image ? marker + "\n" + prompt : prompt;
  const char* tmpl = llama_model_chat_template(model_, nullptr);
  if (!tmpl) return content;  // a base model: no template, raw text
  llama_chat_message message{"user", content.c_str()};
  std::vector<char> buf(content.size() * 2 + 512);
  int32_t n = llama_chat_apply_template(tmpl, &message, 1, /*add_ass=*/true, buf.data(),
                                        static_cast<int32_t>(buf.size()));
  if (n > static_cast<int32_t>(buf.size())) {
    buf.resize(static_cast<size_t>(n));
    n = llama_chat_apply_template(tmpl, &message, 1, true, buf.data(), n);
  }
  // llama_chat_apply_template knows a fixed list of templates; an unknown
  // Jinja template is not worth failing the job over.
  if (n < 0) return content;
  return std::string(buf.data(), static_cast<size_t>(n));
}

Result<mtmd::input_chunks_ptr> LlamaEngine::Tokenize(const std::string& text,
                                                     const imaging::RgbImage* image) {
  mtmd::input_chunks_ptr chunks(mtmd_input_chunks_init());
  mtmd::bitmap bitmap;
  std::vector<const mtmd_bitmap*> bitmaps;
  if (image) {
    bitmap.ptr.reset(mtmd_bitmap_init(static_cast<uint32_t>(image->width),
                                      static_cast<uint32_t>(image->height), image->pixels.data()));
    if (!bitmap.ptr) return Internal("mtmd_bitmap_init failed");
    // The id travels to the image chunk(s): the embedding cache's key.
    if (image_cache_.enabled()) {
      const std::string key =
          EmbeddingCache::KeyOf(image->width, image->height, image->pixels.data());
      bitmap.set_id(key.c_str());
    }
    bitmaps.push_back(bitmap.ptr.get());
  }
  mtmd_input_text input{text.c_str(), text.size(), /*add_special=*/true, /*parse_special=*/true};
  const int32_t rc = mtmd_tokenize(mtmd_, chunks.get(), &input, bitmaps.data(), bitmaps.size());
  if (rc == 1) return MakeError(ErrorCode::kInvalidRequest, "image count does not match the prompt");
  if (rc == 2) return MakeError(ErrorCode::kInvalidImage, "the vision encoder rejected the image");
  if (rc != 0) return Internal("mtmd_tokenize failed: " + std::to_string(rc));
  return chunks;
}

Status LlamaEngine::DecodeText(const llama_token* tokens, size_t n, llama_pos pos,
                               bool logits_last) {
  batch_.n_tokens = static_cast<int32_t>(n);
  for (size_t i = 0; i < n; ++i) {
    batch_.token[i] = tokens[i];
    batch_.pos[i] = pos + static_cast<llama_pos>(i);
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = 0;
    batch_.logits[i] = logits_last && i + 1 == n;
  }
  const int32_t rc = llama_decode(ctx_, batch_);
  if (rc == 0 || rc == 2) return OkStatus();  // 2: aborted; the caller checks cancelled()
  // -2: the compute buffers could not be allocated (llama-context.cpp maps
  // GGML_STATUS_ALLOC_FAILED to it); the job needs more memory than the device has.
  if (rc == -2) return MakeError(ErrorCode::kOutOfMemory, "out of memory: llama_decode could not allocate");
  return Internal("llama_decode failed: " + std::to_string(rc));
}

Result<LlamaEngine::Prefilled> LlamaEngine::Prefill(const mtmd_input_chunks* chunks,
                                                    JobEvents& events, RunStats& stats) {
  const auto start = Clock::now();
  const int64_t total = static_cast<int64_t>(mtmd_helper_get_n_tokens(chunks));
  int64_t done = 0;
  Prefilled out;
  events.OnProgress(Phase::kPrefill, 0, total);
  const size_t n_chunks = mtmd_input_chunks_size(chunks);
  std::map<std::string, int> image_chunk_index;  // image id -> chunks of it seen
  for (size_t c = 0; c < n_chunks; ++c) {
    const mtmd_input_chunk* chunk = mtmd_input_chunks_get(chunks, c);
    const bool last = c + 1 == n_chunks;
    if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_TEXT) {
      size_t n = 0;
      const llama_token* tokens = mtmd_input_chunk_get_tokens_text(chunk, &n);
      for (size_t off = 0; off < n; off += static_cast<size_t>(n_batch_)) {
        const size_t len = std::min(n - off, static_cast<size_t>(n_batch_));
        if (Status s = DecodeText(tokens + off, len, out.n_past, last && off + len == n); !s) {
          return s.error();
        }
        out.n_past += static_cast<llama_pos>(len);
        if ((out.cancelled = events.cancelled())) return out;
        done += static_cast<int64_t>(len);
        events.OnProgress(Phase::kPrefill, done, total);
      }
      continue;
    }
    // Image: encode with the vision tower (or find the embeddings in the
    // cache), then decode them.
    if (last) return Internal("prompt ends with an image; no logits to sample from");
    const char* id = mtmd_input_chunk_get_id(chunk);
    std::string key;
    if (id && *id) key = std::string(id) + "#" + std::to_string(image_chunk_index[id]++);
    events.OnProgress(Phase::kImageEncode, 0, 1);
    const auto t = Clock::now();
    Result<EmbeddingCache::Embeddings> embd = ImageEmbeddings(chunk, key, events);
    if (!embd) return embd.error();
    if ((out.cancelled = !*embd)) return out;
    stats.timings.image_encode_ms += Ms(Clock::now() - t);
    events.OnProgress(Phase::kImageEncode, 1, 1);
    llama_pos new_n_past = out.n_past;
    const int32_t rd = mtmd_helper_decode_image_chunk(mtmd_, ctx_, chunk, (*embd)->data(),
                                                      out.n_past, 0, n_batch_, &new_n_past,
                                                      nullptr, nullptr);
    if ((out.cancelled = events.cancelled())) return out;
    if (rd != 0) return Internal("image decode failed: " + std::to_string(rd));
    out.n_past = new_n_past;
    done += static_cast<int64_t>(mtmd_input_chunk_get_n_tokens(chunk));
    events.OnProgress(Phase::kPrefill, done, total);
  }
  stats.timings.prefill_ms = Ms(Clock::now() - start) - stats.timings.image_encode_ms;
  return out;
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
      std::fprintf(stderr,
                   "vigil-worker: image cache hit %.16s (%zu tokens, encode skipped; "
                   "%zu cached, %.1f MiB)\n",
                   key.c_str(), n_tokens, image_cache_.size(), image_cache_.bytes() / 1048576.0);
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
    std::fprintf(stderr,
                 "vigil-worker: image cache miss %.16s (%zu tokens, encoded in %.0f ms; "
                 "%zu cached, %.1f MiB)\n",
                 key.c_str(), n_tokens, Ms(Clock::now() - start), image_cache_.size(),
                 image_cache_.bytes() / 1048576.0);
  }
  return embd;
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

Status LlamaEngine::Generate(const protocol::SamplingParams& params, llama_pos n_past,
                             JobEvents& events, RunStats& stats) {
  std::unique_ptr<llama_sampler, SamplerDeleter> sampler(MakeSampler(params));
  const llama_pos n_ctx = static_cast<llama_pos>(llama_n_ctx(ctx_));
  const int64_t limit = params.max_tokens > 0 ? params.max_tokens : INT64_MAX;
  events.OnDecodeStart();
  const auto start = Clock::now();
  stats.finish_reason = "length";
  for (;;) {
    if (events.cancelled()) {
      stats.finish_reason = "cancelled";
      break;
    }
    const llama_token token = llama_sampler_sample(sampler.get(), ctx_, -1);
    if (!params.ignore_eos && llama_vocab_is_eog(vocab_, token)) {
      stats.finish_reason = "stop";
      break;
    }
    ++stats.usage.completion_tokens;
    events.OnAdvance();
    if (!events.OnToken(TokenToPiece(token))) {
      stats.finish_reason = "stop";
      break;
    }
    if (stats.usage.completion_tokens >= limit || n_past >= n_ctx) break;  // "length"
    if (Status s = DecodeText(&token, 1, n_past, true); !s) return s;
    ++n_past;
  }
  stats.timings.decode_ms = Ms(Clock::now() - start);
  return OkStatus();
}

}  // namespace vigil::worker
