// llama_engine.h: the engine over llama.cpp's libllama (text model) and
// libmtmd (vision projector). With llama_admit.cc and llama_step.cc, the
// only code in vigil that includes llama.h or mtmd.h.
//
// Load: llama_model_load_from_file + llama_init_from_model +
// mtmd_init_from_file; facts come from the model's metadata and the mmproj's
// "clip.vision.image_size". One llama context serves every job: n_seq_max =
// capacity, ctx * capacity KV cells in one KV stream per sequence (not
// unified: see Load for the determinism this buys), and each job keeps the
// --ctx budget (prompt_too_long and "length" are per job).
//
// Admit: the job's conversation goes through the model's own chat template
// (the GGUF's Jinja text, rendered by chat_template.h as llama-server
// renders it: each image is libmtmd's marker in the text) and mtmd_tokenize
// splits it into text and image chunks; the job takes a free sequence id.
// Step, one of (llama-server's shape):
//   - image: the oldest prefilling job whose next chunk is an image has it
//     encoded (mtmd_encode_chunk, or the cache) and decoded into its own
//     sequence (mtmd_helper_decode_image_chunk); running jobs wait.
//   - batch: ONE llama_decode carrying the pending token of every generating
//     job plus prompt text of prefilling jobs, oldest first, up to n_batch;
//     then each job whose logits came out samples with its own sampler at
//     its own batch index.
// A job ends at EOG, max_tokens, a stop string, its --ctx budget, or
// cancellation; its sequence is freed at once (llama_memory_seq_rm) and the
// id reused by the next newcomer.
//
// Repeated images: Tokenize tags each image with the SHA-256 of its RGB8
// pixels and its number in the job (mtmd_bitmap_set_id, read back from the
// chunk), and Prefill keeps each image chunk's output embeddings in an LRU
// EmbeddingCache keyed by that hash plus the chunk's ordinal among the
// image's chunks, so a picture is encoded once however often it appears (a model that slices
// an image makes several chunks of one id). On a hit the encode is skipped
// and the cached embeddings are decoded as a fresh encode's would be
// (mtmd_helper_decode_image_chunk, non-causal where the model wants it); the
// job's image_encode_ms is then the lookup time, near 0, and stderr says
// "image cache hit".
//
// Cancellation reaches inside long computations: llama's abort callback
// (text decode, CPU backend) and the vision graph's eval callback (image
// encode) stop the computation when every job it carries is cancelled (a
// step shared with live jobs runs to its end; the cancelled job is dropped
// after it).
// Thread-safety: see engine.h.
#pragma once

#include <llama.h>
#include <mtmd.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "worker/chat_template/chat_template.h"
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
  // 0: pictures reach libmtmd at full size, as llama-server passes them.
  // Shrinking them first changed what the encoder saw (SmolVLM cuts its
  // tiles from the picture upscaled to its longest edge; Gemma 3's square
  // came out further from transformers' resize,
  // bench/results/resize-fidelity.json).
  int image_size() const override { return 0; }
  int capacity() const override { return capacity_; }
  void Admit(const EngineJob& job, JobEvents& events) override;
  void Step() override;
  int Running() const override { return static_cast<int>(jobs_.size()); }
  int64_t DeviceMemoryFree() const override;

 private:
  struct SamplerDeleter {
    void operator()(llama_sampler* s) const { llama_sampler_free(s); }
  };
  using Clock = std::chrono::steady_clock;
  // One admitted job: its sequence, where its prompt stands, its sampler.
  struct Job {
    JobEvents* events = nullptr;
    llama_seq_id seq = 0;
    protocol::SamplingParams params;
    int64_t limit = 0;  // completion tokens
    mtmd::input_chunks_ptr chunks;
    size_t chunk = 0;       // next prompt chunk to prefill; == chunks' size: the resume tokens
    size_t chunk_done = 0;  // tokens of that (text) segment already in the batch
    std::vector<llama_token> resume;  // EngineJob::resume_tokens, prefilled after the prompt
    bool resumed = false;             // their text has been passed to OnToken
    int64_t prefilled = 0, prompt_tokens = 0;
    std::map<std::string, int> image_chunk_index;  // image id -> chunks of it seen
    int64_t n_images = 0;                          // images in the prompt
    llama_pos n_past = 0;   // tokens of this sequence in the KV cache
    bool generating = false;
    llama_token pending = 0;  // generating: sampled, to decode next step
    int32_t logits_at = -1;   // index in this step's batch to sample at; -1: none
    int32_t in_step = 0;      // prompt tokens this job has in this step's batch
    std::unique_ptr<llama_sampler, SamplerDeleter> sampler;
    Clock::time_point prefill_start, decode_start;
    RunStats stats;
  };

  // llama_prompt.cc
  // Parses the GGUF's tokenizer.chat_template (chat_template.h) and finds
  // whether it wants typed content; no template: libllama's chatml.
  Status LoadChatTemplate();
  std::string SpecialText(llama_token token) const;  // "" for LLAMA_TOKEN_NULL
  // The job's conversation rendered with the model's chat template, each
  // image as libmtmd's marker where the conversation places it.
  Result<std::string> FormatPrompt(const EngineJob& job) const;
  Result<mtmd::input_chunks_ptr> Tokenize(const std::string& text,
                                          const std::vector<const imaging::RgbImage*>& images);
  // llama_admit.cc
  llama_sampler* MakeSampler(const protocol::SamplingParams& params) const;
  std::string TokenToPiece(llama_token token) const;
  // Ends jobs_[i]: frees its sequence, then tells the worker.
  void Finish(size_t i, const char* reason);
  void Fail(size_t i, const Error& error);
  void Release(Job& job);

  // llama_step.cc
  void EndCancelled();
  // The oldest prefilling job whose next chunk is an image; nullptr if none.
  Job* NextImage();
  void StepImage(Job& job);
  void StepBatch();
  // Adds prompt text of prefilling jobs to batch_, up to n_batch tokens.
  void AddPromptText(std::vector<Job*>& in_batch);
  void AfterPrompt(Job& job);  // prompt done: OnDecodeStart
  // The text tokens of the job's current prefill segment (a text chunk of
  // the prompt, then the resume tokens); *last: the segment ends the prefill.
  const llama_token* PromptText(const Job& job, size_t* n, bool* last) const;
  // Passes the resume tokens' text on as generated text; false: the job ended.
  bool EmitResumed(Job& job, const char** reason);
  // Samples job's next token; false when the job ended (caller erases).
  bool Sample(Job& job, const char** reason);
  // Encodes an image chunk, or finds its embeddings in the cache; nullptr
  // and no error when cancelled.
  Result<EmbeddingCache::Embeddings> ImageEmbeddings(const mtmd_input_chunk* chunk,
                                                     const std::string& key, JobEvents& events);
  Status DecodeStatus(int32_t rc) const;
  // llama_warmup.cc: one step of each kind at load, on a GPU.
  void Warmup(const std::function<void()>& advance);
  // One image marker with a uniform grey side x side picture, tokenized by
  // libmtmd; null when libmtmd refuses it. For the encoder's warm-up.
  mtmd::input_chunks_ptr GreyImageChunks(uint32_t side) const;
  void EndBatch(const std::vector<Job*>& in_batch, const Error& error);

  // llama_engine.cc
  protocol::ModelFacts Facts(const EngineOptions& options) const;
  static bool OnAbort(void* self);
  static bool OnEncodeEval(ggml_tensor* tensor, bool ask, void* self);
  bool AllComputingCancelled() const;

  llama_model* model_ = nullptr;
  llama_context* ctx_ = nullptr;
  mtmd_context* mtmd_ = nullptr;
  const llama_vocab* vocab_ = nullptr;
  ggml_backend_dev_t device_ = nullptr;  // where the offloaded layers live; nullptr: CPU
  llama_batch batch_{};
  int n_batch_ = 512;
  int image_size_ = 0;      // the encoder's nominal side (clip.vision.image_size)
  int capacity_ = 1;
  llama_pos ctx_per_job_ = 0;
  std::vector<llama_logit_bias> eog_bias_;  // for ignore_eos
  std::vector<std::unique_ptr<Job>> jobs_;  // admission order
  std::vector<llama_seq_id> free_seqs_;     // lowest last
  // The jobs whose work llama.cpp computes right now, for its callbacks;
  // written by the main thread only between computations.
  std::vector<JobEvents*> computing_;
  uint64_t eval_nodes_ = 0;
  EmbeddingCache image_cache_;
  std::optional<chat_template::ChatTemplate> chat_template_;  // nullopt: built-in chatml
  bool typed_content_ = false;  // the template reads content as a list of parts
  std::string bos_text_, eos_text_;
  std::string chat_format_;  // "gguf" | "builtin:chatml": ModelFacts::chat_template
};

}  // namespace vigil::worker
