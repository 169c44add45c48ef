// LlamaEngine: loading, model facts, and the callbacks llama.cpp calls.
#include "worker/engine/llama_engine.h"

#include <ggml-backend.h>
#include <gguf.h>
#include <mtmd-helper.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace vigil::worker {
namespace {

// llama.cpp logs a lot at INFO. The supervisor keeps only a tail of stderr
// for crash reports, so pass on warnings and errors (and their
// continuations) unless VIGIL_WORKER_VERBOSE is set.
void OnLog(ggml_log_level level, const char* text, void*) {
  static thread_local ggml_log_level last = GGML_LOG_LEVEL_NONE;
  static const bool verbose = std::getenv("VIGIL_WORKER_VERBOSE") != nullptr;
  if (level != GGML_LOG_LEVEL_CONT) last = level;
  if (verbose || last >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

std::string MetaString(const llama_model* model, const char* key) {
  char buf[512];
  const int n = llama_model_meta_val_str(model, key, buf, sizeof buf);
  return n > 0 ? std::string(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1)) : "";
}

// The vision encoder's input side, from the mmproj's GGUF metadata; 0 if
// absent (the worker then sends images at full size).
int ReadImageSize(const std::string& mmproj) {
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  gguf_context* g = gguf_init_from_file(mmproj.c_str(), params);
  if (!g) return 0;
  int size = 0;
  const int64_t key = gguf_find_key(g, "clip.vision.image_size");
  if (key >= 0 && gguf_get_kv_type(g, key) == GGUF_TYPE_UINT32) {
    size = static_cast<int>(gguf_get_val_u32(g, key));
  }
  gguf_free(g);
  return size;
}

void DescribeDevice(bool want_gpu, protocol::ModelFacts& f) {
  ggml_backend_dev_t chosen = nullptr;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    const auto type = ggml_backend_dev_type(dev);
    const bool gpu = type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
    if ((want_gpu && gpu) || (!chosen && type == GGML_BACKEND_DEVICE_TYPE_CPU)) chosen = dev;
    if (want_gpu && gpu) break;
  }
  if (!chosen) {
    f.device = "CPU";
    return;
  }
  f.device = std::string(ggml_backend_dev_name(chosen)) + ": " + ggml_backend_dev_description(chosen);
  size_t free = 0, total = 0;
  ggml_backend_dev_memory(chosen, &free, &total);
  f.device_memory_free = static_cast<int64_t>(free);
  f.device_memory_total = static_cast<int64_t>(total);
}

Error LoadError(std::string what) { return MakeError(ErrorCode::kInternal, std::move(what)); }

}  // namespace

LlamaEngine::~LlamaEngine() {
  if (batch_.token) llama_batch_free(batch_);
  if (mtmd_) mtmd_free(mtmd_);
  if (ctx_) llama_free(ctx_);
  if (model_) llama_model_free(model_);
}

bool LlamaEngine::OnAbort(void* self) {
  JobEvents* ev = static_cast<LlamaEngine*>(self)->events_.load();
  return ev && ev->cancelled();
}

// The vision graph's scheduler asks, node by node, whether we want to look
// at a result; every yes costs a synchronisation, so look at one node in 32.
// Each look bumps the heartbeat counter (the encoder is alive) and may
// cancel the graph (returning false stops the compute). Observed with
// libmtmd 0.7.0: a stopped encode still returns success with partial
// embeddings, so Prefill checks cancelled() right after the encode instead
// of trusting the return code.
bool LlamaEngine::OnEncodeEval(ggml_tensor*, bool ask, void* self) {
  auto* engine = static_cast<LlamaEngine*>(self);
  JobEvents* ev = engine->events_.load();
  if (ask) return ev && (++engine->eval_nodes_ % 32 == 0);
  if (!ev) return true;
  ev->OnAdvance();
  return !ev->cancelled();
}

Result<protocol::ModelFacts> LlamaEngine::Load(const EngineOptions& options,
                                               const std::function<void()>& advance) {
  llama_log_set(OnLog, nullptr);
  mtmd_helper_log_set(OnLog, nullptr);
  ggml_backend_load_all();  // Debian's libggml ships the CPU backends as modules
  llama_backend_init();

  llama_model_params mp = llama_model_default_params();
  if (options.gpu_layers >= 0) mp.n_gpu_layers = options.gpu_layers;
  mp.progress_callback = [](float, void* fn) {
    (*static_cast<const std::function<void()>*>(fn))();
    return true;
  };
  mp.progress_callback_user_data = const_cast<std::function<void()>*>(&advance);
  model_ = llama_model_load_from_file(options.model.c_str(), mp);
  if (!model_) return LoadError("cannot load model " + options.model);
  advance();

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(options.ctx);
  // One ubatch must hold a whole image (bidirectional attention over the
  // image tokens, e.g. Gemma 3's 256), hence n_ubatch = n_batch.
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(n_batch_);
  if (options.threads > 0) cp.n_threads = cp.n_threads_batch = options.threads;
  cp.abort_callback = OnAbort;
  cp.abort_callback_data = this;
  ctx_ = llama_init_from_model(model_, cp);
  if (!ctx_) return LoadError("cannot create a context of " + std::to_string(options.ctx) + " tokens");
  n_batch_ = static_cast<int>(llama_n_batch(ctx_));  // llama.cpp may clamp it to n_ctx
  advance();

  mtmd_context_params vp = mtmd_context_params_default();
  vp.use_gpu = options.gpu_layers != 0;
  vp.print_timings = false;
  if (options.threads > 0) vp.n_threads = options.threads;
  vp.cb_eval = OnEncodeEval;
  vp.cb_eval_user_data = this;
  mtmd_ = mtmd_init_from_file(options.mmproj.c_str(), model_, vp);
  if (!mtmd_) return LoadError("cannot load vision projector " + options.mmproj);
  if (!mtmd_support_vision(mtmd_)) return LoadError(options.mmproj + " has no vision encoder");
  advance();

  vocab_ = llama_model_get_vocab(model_);
  for (llama_token t = 0; t < llama_vocab_n_tokens(vocab_); ++t) {
    if (llama_vocab_is_eog(vocab_, t)) eog_bias_.push_back({t, -INFINITY});
  }
  batch_ = llama_batch_init(n_batch_, 0, 1);
  image_size_ = ReadImageSize(options.mmproj);
  image_cache_ = EmbeddingCache(static_cast<size_t>(std::max<int64_t>(options.image_cache_mb, 0))
                                << 20);
  return Facts(options);
}

protocol::ModelFacts LlamaEngine::Facts(const EngineOptions& options) const {
  protocol::ModelFacts f;
  f.name = MetaString(model_, "general.name");
  if (f.name.empty()) f.name = std::filesystem::path(options.model).stem().string();
  f.arch = MetaString(model_, "general.architecture");
  f.n_ctx = llama_n_ctx(ctx_);
  f.n_ctx_train = llama_model_n_ctx_train(model_);
  f.n_params = static_cast<int64_t>(llama_model_n_params(model_));
  f.image_size = image_size_;
  DescribeDevice(options.gpu_layers != 0, f);
  return f;
}

}  // namespace vigil::worker
