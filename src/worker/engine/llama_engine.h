// llama_engine.h: the engine over llama.cpp's libllama (text model) and
// libmtmd (vision projector). Together with llama_run.cc, the only code in
// vigil that includes llama.h or mtmd.h.
//
// Load: llama_model_load_from_file + llama_init_from_model +
// mtmd_init_from_file; facts come from the model's metadata and the mmproj's
// "clip.vision.image_size".
// Run: the prompt goes through the model's own chat template (a user turn
// holding the image marker and the prompt), mtmd_tokenize splits it into
// text and image chunks, text chunks are decoded in n_batch pieces and image
// chunks are encoded then decoded (Progress frames for both), and tokens are
// sampled one by one until EOG, max_tokens, a stop string, a full context or
// cancellation. The KV cache is cleared at the start of every job.
//
// Repeated images: Tokenize tags the image with the SHA-256 of its RGB8
// pixels (mtmd_bitmap_set_id, read back from the chunk), and Prefill keeps
// each image chunk's output embeddings in an LRU EmbeddingCache keyed by that
// hash plus the chunk's ordinal among the image's chunks (a model that slices
// an image makes several chunks of one id). On a hit the encode is skipped
// and the cached embeddings are decoded as a fresh encode's would be
// (mtmd_helper_decode_image_chunk, non-causal where the model wants it); the
// job's image_encode_ms is then the lookup time, near 0, and stderr says
// "image cache hit".
//
// Cancellation reaches inside long computations: llama's abort callback
// (text decode, CPU backend) and the vision graph's eval callback (image
// encode) both poll JobEvents::cancelled().
// Thread-safety: see engine.h.
#pragma once

#include <llama.h>
#include <mtmd.h>

#include <atomic>
#include <vector>

#include "worker/engine/embedding_cache.h"
#include "worker/engine/engine.h"

namespace vigil::worker {

// The code for a failed load, from the error lines llama.cpp logged
// meanwhile: kOutOfMemory for an allocation failure, else kInternal.
ErrorCode ClassifyLoadFailure(std::string_view log);

// "auto:N" (what `vigil serve` passes by default): use the GPU N modulo the
// GPUs present, so workers spread over every GPU by slot. Returns N, or an
// error when `device` is not of that form.
Result<int64_t> AutoDeviceSlot(std::string_view device);

class LlamaEngine final : public Engine {
 public:
  LlamaEngine() = default;
  ~LlamaEngine() override;
  LlamaEngine(const LlamaEngine&) = delete;
  LlamaEngine& operator=(const LlamaEngine&) = delete;

  Result<protocol::ModelFacts> Load(const EngineOptions& options,
                                    const std::function<void()>& advance) override;
  int image_size() const override { return image_size_; }
  Result<RunStats> Run(const EngineJob& job, JobEvents& events) override;
  int64_t DeviceMemoryFree() const override;

 private:
  struct Prefilled {
    bool cancelled = false;
    llama_pos n_past = 0;
  };

  // llama_run.cc
  Result<std::string> FormatPrompt(const std::string& prompt, bool with_image) const;
  Result<mtmd::input_chunks_ptr> Tokenize(const std::string& text, const imaging::RgbImage* image);
  Result<Prefilled> Prefill(const mtmd_input_chunks* chunks, JobEvents& events, RunStats& stats);
  // Encodes an image chunk, or finds its embeddings in the cache; nullptr
  // and no error when cancelled.
  Result<EmbeddingCache::Embeddings> ImageEmbeddings(const mtmd_input_chunk* chunk,
                                                     const std::string& key, JobEvents& events);
  Status DecodeText(const llama_token* tokens, size_t n, llama_pos pos, bool logits_last);
  Status Generate(const protocol::SamplingParams& params, llama_pos n_past, JobEvents& events,
                  RunStats& stats);
  llama_sampler* MakeSampler(const protocol::SamplingParams& params) const;
  std::string TokenToPiece(llama_token token) const;

  // llama_engine.cc
  protocol::ModelFacts Facts(const EngineOptions& options) const;
  static bool OnAbort(void* self);
  static bool OnEncodeEval(ggml_tensor* tensor, bool ask, void* self);

  llama_model* model_ = nullptr;
  llama_context* ctx_ = nullptr;
  mtmd_context* mtmd_ = nullptr;
  const llama_vocab* vocab_ = nullptr;
  ggml_backend_dev_t device_ = nullptr;  // where the offloaded layers live; nullptr: CPU
  llama_batch batch_{};
  int n_batch_ = 512;
  int image_size_ = 0;
  std::vector<llama_logit_bias> eog_bias_;  // for ignore_eos
  // The running job, for the callbacks llama.cpp makes from inside compute.
  std::atomic<JobEvents*> events_{nullptr};
  uint64_t eval_nodes_ = 0;
  EmbeddingCache image_cache_;
};

}  // namespace vigil::worker
