// LlamaEngine::Warmup: run every kind of step once at load, on a GPU.
//
// Why: ggml's Vulkan backend compiles a pipeline the first time a shape of
// work meets the device (a prompt batch, one token per sequence, the vision
// encoder). Measured on an H200: a loaded spare that took over eight jobs of
// a dead worker stalled them 0.35-2.8 s at its first steps, the time those
// compilations took. Paying it at load makes a spare ready in fact, not only
// in name. On the CPU there is nothing to compile: skipped.
#include <mtmd-helper.h>

#include <vector>

#include "common/log.h"
#include "worker/engine/llama_engine.h"

namespace vigil::worker {

void LlamaEngine::Warmup(const std::function<void()>& advance) {
  if (!device_) return;
  llama_token t = llama_vocab_bos(vocab_);
  if (t == LLAMA_TOKEN_NULL) t = 0;
  // A prompt batch on sequence 0, then one token for every sequence.
  const int32_t n_prompt = std::min<int32_t>(32, n_batch_);
  batch_.n_tokens = 0;
  for (int32_t i = 0; i < n_prompt; ++i) {
    batch_.token[i] = t;
    batch_.pos[i] = i;
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = 0;
    batch_.logits[i] = i + 1 == n_prompt;
  }
  batch_.n_tokens = n_prompt;
  if (llama_decode(ctx_, batch_) != 0) LogWarn("warmup_step_failed", {{"step", "prompt"}});
  advance();
  const int32_t n_seq = std::min(capacity_, n_batch_);
  for (int32_t s = 0; s < n_seq; ++s) {
    batch_.token[s] = t;
    batch_.pos[s] = s == 0 ? n_prompt : 0;
    batch_.n_seq_id[s] = 1;
    batch_.seq_id[s][0] = s;
    batch_.logits[s] = true;
  }
  batch_.n_tokens = n_seq;
  if (llama_decode(ctx_, batch_) != 0) LogWarn("warmup_step_failed", {{"step", "decode"}});
  advance();
  llama_memory_clear(llama_get_memory(ctx_), true);

  // The vision encoder, on a grey image of the size it wants.
  const uint32_t side = image_size_ > 0 ? static_cast<uint32_t>(image_size_) : 64;
  if (const mtmd::input_chunks_ptr chunks = GreyImageChunks(side)) {
    for (size_t i = 0; i < mtmd_input_chunks_size(chunks.get()); ++i) {
      const mtmd_input_chunk* chunk = mtmd_input_chunks_get(chunks.get(), i);
      if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_TEXT) continue;
      if (mtmd_encode_chunk(mtmd_, chunk) != 0) LogWarn("warmup_step_failed", {{"step", "encode"}});
      break;
    }
  }
  advance();
}

}  // namespace vigil::worker
