// LlamaEngine: loading, model facts, and the callbacks llama.cpp calls.
#include "worker/engine/llama_engine.h"

#include <ggml-backend.h>
#include <gguf.h>
#include <mtmd-helper.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <utility>

#include <nlohmann/json.hpp>

namespace vigil::worker {
namespace {

// llama.cpp logs a lot at INFO. The supervisor keeps only a tail of stderr
// for crash reports, so pass on warnings and errors (and their
// continuations) unless VIGIL_WORKER_VERBOSE is set. Errors are also kept,
// because a failing load returns only nullptr: the log says why.
std::mutex g_log_mutex;
std::string g_load_errors;  // error lines since the load began

void OnLog(ggml_log_level level, const char* text, void*) {
  static thread_local ggml_log_level last = GGML_LOG_LEVEL_NONE;
  static const bool verbose = std::getenv("VIGIL_WORKER_VERBOSE") != nullptr;
  if (level != GGML_LOG_LEVEL_CONT) last = level;
  if (verbose || last >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
  if (last >= GGML_LOG_LEVEL_ERROR) {
    std::lock_guard lock(g_log_mutex);
    if (g_load_errors.size() < 8192) g_load_errors += text;
  }
}

std::string TakeLoadErrors() {
  std::lock_guard lock(g_log_mutex);
  return std::exchange(g_load_errors, {});
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

bool IsGpu(ggml_backend_dev_t dev) {
  const auto type = ggml_backend_dev_type(dev);
  return type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
}

struct DeviceMemory {
  int64_t free = 0;
  int64_t total = 0;
};

DeviceMemory MemoryOf(ggml_backend_dev_t dev) {
  size_t free = 0, total = 0;
  ggml_backend_dev_memory(dev, &free, &total);
  return {static_cast<int64_t>(free), static_cast<int64_t>(total)};
}

std::vector<ggml_backend_dev_t> Gpus() {
  std::vector<ggml_backend_dev_t> gpus;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    if (IsGpu(ggml_backend_dev_get(i))) gpus.push_back(ggml_backend_dev_get(i));
  }
  return gpus;
}

std::string DeviceNames() {
  std::string names;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    names += (names.empty() ? "" : ", ") + std::string(ggml_backend_dev_name(ggml_backend_dev_get(i)));
  }
  return names.empty() ? "none" : names;
}

void LoadBackends() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(OnLog, nullptr);
    mtmd_helper_log_set(OnLog, nullptr);
    ggml_backend_load_all();  // Debian's libggml ships its backends as modules
    llama_backend_init();
  });
}

}  // namespace

// An allocation failure is the one load failure an operator fixes by asking
// for less (context, layers, workers per device), so it gets its own code.
// llama.cpp reports it only in its log: match the messages of ggml's
// allocators (CPU and GPU backends) and of the Vulkan and CUDA drivers.
ErrorCode ClassifyLoadFailure(std::string_view log) {
  static constexpr std::string_view kOomMarks[] = {
      "failed to allocate", "out of memory", "bad_alloc", "OutOfDeviceMemory", "OutOfHostMemory",
      "ErrorOutOfPoolMemory", "exceeds device memory allocation limit", "cudaMalloc failed"};
  for (std::string_view mark : kOomMarks) {
    if (log.find(mark) != std::string_view::npos) return ErrorCode::kOutOfMemory;
  }
  return ErrorCode::kInternal;
}

Result<int64_t> AutoDeviceSlot(std::string_view device) {
  constexpr std::string_view kPrefix = "auto:";
  if (!device.starts_with(kPrefix)) return MakeError(ErrorCode::kInvalidRequest, "not auto:N");
  const std::string_view digits = device.substr(kPrefix.size());
  int64_t slot = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), slot);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || slot < 0) {
    return MakeError(ErrorCode::kInvalidRequest, "not auto:N");
  }
  return slot;
}

std::string ListDevices() {
  LoadBackends();
  std::string out;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    const DeviceMemory memory = MemoryOf(dev);
    const auto type = ggml_backend_dev_type(dev);
    out += nlohmann::json{{"name", ggml_backend_dev_name(dev)},
                          {"description", ggml_backend_dev_description(dev)},
                          {"type", IsGpu(dev) ? "gpu" : type == GGML_BACKEND_DEVICE_TYPE_CPU ? "cpu" : "other"},
                          {"memory_total", memory.total},
                          {"memory_free", memory.free}}
               .dump() + "\n";
  }
  return out;
}

LlamaEngine::~LlamaEngine() {
  if (batch_.token) llama_batch_free(batch_);
  if (mtmd_) mtmd_free(mtmd_);
  if (ctx_) llama_free(ctx_);
  if (model_) llama_model_free(model_);
}

// True when every job of the running computation was cancelled: a step
// shared with a live job is never cut short (the cancelled job is dropped
// after it, its tokens discarded).
bool LlamaEngine::AllComputingCancelled() const {
  if (computing_.empty()) return false;
  for (const JobEvents* ev : computing_) {
    if (!ev->cancelled()) return false;
  }
  return true;
}

bool LlamaEngine::OnAbort(void* self) {
  return static_cast<LlamaEngine*>(self)->AllComputingCancelled();
}

// The vision graph's scheduler asks, node by node, whether we want to look
// at a result; every yes costs a synchronisation, so look at one node in 32.
// Each look bumps the heartbeat counter (the encoder is alive) and may
// cancel the graph (returning false stops the compute). Observed with
// libmtmd 0.7.0: a stopped encode still returns success with partial
// embeddings, so StepImage checks cancelled() right after the encode
// instead of trusting the return code.
bool LlamaEngine::OnEncodeEval(ggml_tensor*, bool ask, void* self) {
  auto* engine = static_cast<LlamaEngine*>(self);
  if (engine->computing_.empty()) return !ask;
  if (ask) return ++engine->eval_nodes_ % 32 == 0;
  engine->computing_.front()->OnAdvance();
  return !engine->AllComputingCancelled();
}

// The one device a worker computes on; nullptr: the CPU. --device names it
// (a ggml name, or auto:N for GPU N modulo the GPUs present); without it, the
// first GPU. --gpu-layers 0 means the CPU, the vision encoder included.
static Result<ggml_backend_dev_t> ChooseDevice(const EngineOptions& options) {
  const std::vector<ggml_backend_dev_t> gpus = Gpus();
  ggml_backend_dev_t chosen = nullptr;
  if (auto slot = AutoDeviceSlot(options.device); slot.ok()) {
    if (!gpus.empty()) chosen = gpus[static_cast<size_t>(*slot) % gpus.size()];
  } else if (options.device.empty()) {
    if (!gpus.empty()) chosen = gpus.front();
  } else {
    chosen = ggml_backend_dev_by_name(options.device.c_str());
    if (!chosen) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "no device named " + options.device + " (devices: " + DeviceNames() + ")");
    }
    if (!IsGpu(chosen)) chosen = nullptr;  // "CPU": keep every layer on the CPU
  }
  if (options.gpu_layers == 0) chosen = nullptr;
  return chosen;
}

// A failed load step: the log lines llama.cpp wrote since the load began
// say whether it was memory (kOutOfMemory) or something else.
static Error LoadError(std::string what) {
  const std::string log = TakeLoadErrors();
  const ErrorCode code = ClassifyLoadFailure(log);
  if (code == ErrorCode::kOutOfMemory) what = "out of memory: " + what;
  std::string first_line = log.substr(0, log.find('\n'));
  if (!first_line.empty()) what += " (" + first_line + ")";
  return MakeError(code, std::move(what));
}

Result<protocol::ModelFacts> LlamaEngine::Load(const EngineOptions& options,
                                               const std::function<void()>& advance) {
  LoadBackends();
  TakeLoadErrors();
  auto device = ChooseDevice(options);
  if (!device) return device.error();
  device_ = *device;
  ggml_backend_dev_t devices[] = {device_, nullptr};

  llama_model_params mp = llama_model_default_params();
  if (options.gpu_layers >= 0) mp.n_gpu_layers = options.gpu_layers;
  if (!device_) mp.n_gpu_layers = 0;
  // One device per worker: workers are spread over GPUs by the supervisor
  // (--worker-devices), never split across them.
  if (device_) mp.devices = devices, mp.split_mode = LLAMA_SPLIT_MODE_NONE, mp.main_gpu = 0;
  mp.progress_callback = [](float, void* fn) {
    (*static_cast<const std::function<void()>*>(fn))();
    return true;
  };
  mp.progress_callback_user_data = const_cast<std::function<void()>*>(&advance);
  model_ = llama_model_load_from_file(options.model.c_str(), mp);
  if (!model_) return LoadError("cannot load model " + options.model);
  advance();

  llama_context_params cp = llama_context_default_params();
  // One context for every job, a sequence per job, sized so each job keeps
  // the whole --ctx budget. kv_unified = false (llama-server uses true): a
  // KV stream per sequence, so a job's cells lie exactly as if it ran alone.
  // With one buffer shared by all sequences, a job's cells interleave with
  // its neighbours' (and fill holes they left), and attention then sums in
  // another order: measured with libllama 0.7.0 / ggml CPU (AVX-512, F32
  // tiny model), logits of the same greedy job differed bitwise from the job
  // alone by up to 5e-3, with flash attention (tiled path for many queries;
  // cell order when holes are reused) and without it (KQ mul_mat, soft_max
  // and KQV mul_mat over all n_kv cells: lanes follow cell indices). With a
  // stream per sequence they were identical at every batch size and prompt
  // chunking: matmuls here do not depend on the batch. docs/protocol.md.
  capacity_ = std::clamp(options.capacity, 1, static_cast<int>(llama_max_parallel_sequences()));
  ctx_per_job_ = options.ctx;
  cp.n_ctx = static_cast<uint32_t>(options.ctx) * static_cast<uint32_t>(capacity_);
  cp.n_seq_max = static_cast<uint32_t>(capacity_);
  cp.kv_unified = false;
  // One ubatch must hold a whole image (bidirectional attention over the
  // image tokens, e.g. Gemma 3's 256), hence n_ubatch = n_batch.
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(n_batch_);
  if (options.threads > 0) cp.n_threads = cp.n_threads_batch = options.threads;
  cp.abort_callback = OnAbort;
  cp.abort_callback_data = this;
  ctx_ = llama_init_from_model(model_, cp);
  if (!ctx_) return LoadError("cannot create a context of " + std::to_string(options.ctx) + " tokens");
  n_batch_ = static_cast<int>(llama_n_batch(ctx_));  // llama.cpp may clamp it to n_ctx
  capacity_ = std::min(capacity_, static_cast<int>(llama_n_seq_max(ctx_)));
  for (int s = capacity_ - 1; s >= 0; --s) free_seqs_.push_back(s);
  advance();

  mtmd_context_params vp = mtmd_context_params_default();
  vp.use_gpu = device_ != nullptr;
  vp.device = device_;
  vp.print_timings = false;
  if (options.threads > 0) vp.n_threads = options.threads;
  vp.cb_eval = OnEncodeEval;
  vp.cb_eval_user_data = this;
  mtmd_ = mtmd_init_from_file(options.mmproj.c_str(), model_, vp);
  if (!mtmd_) return LoadError("cannot load vision projector " + options.mmproj);
  if (!mtmd_support_vision(mtmd_)) {
    return MakeError(ErrorCode::kInvalidRequest, options.mmproj + " has no vision encoder");
  }
  advance();

  vocab_ = llama_model_get_vocab(model_);
  for (llama_token t = 0; t < llama_vocab_n_tokens(vocab_); ++t) {
    if (llama_vocab_is_eog(vocab_, t)) eog_bias_.push_back({t, -INFINITY});
  }
  batch_ = llama_batch_init(n_batch_, 0, 1);
  image_size_ = ReadImageSize(options.mmproj);
  advance();
  // A template this interpreter cannot render is a configuration error
  // found now, not a failure of every job.
  if (Status s = LoadChatTemplate(); !s) return s.error();
  image_cache_ = EmbeddingCache(static_cast<size_t>(std::max<int64_t>(options.image_cache_mb, 0))
                                << 20);
  Warmup(advance);
  return Facts(options);
}

int64_t LlamaEngine::DeviceMemoryFree() const {
  return device_ ? MemoryOf(device_).free : 0;
}

protocol::ModelFacts LlamaEngine::Facts(const EngineOptions& options) const {
  protocol::ModelFacts f;
  f.name = MetaString(model_, "general.name");
  f.chat_template = chat_format_;
  if (!options.model_name.empty()) f.name = options.model_name;
  if (f.name.empty()) f.name = std::filesystem::path(options.model).stem().string();
  f.arch = MetaString(model_, "general.architecture");
  f.n_ctx = ctx_per_job_;  // per job; the context holds capacity times this
  f.n_ctx_train = llama_model_n_ctx_train(model_);
  f.n_params = static_cast<int64_t>(llama_model_n_params(model_));
  f.image_size = image_size_;
  if (!device_) {
    f.device = "CPU";
    return f;
  }
  f.device = std::string(ggml_backend_dev_name(device_)) + ": " + ggml_backend_dev_description(device_);
  const DeviceMemory memory = MemoryOf(device_);
  f.device_memory_free = memory.free;
  f.device_memory_total = memory.total;
  // llama.cpp offloads the repeating layers and then the output layer.
  const int64_t all = llama_model_n_layer(model_) + 1;
  f.gpu_layers = options.gpu_layers < 0 ? all : std::min<int64_t>(options.gpu_layers, all);
  return f;
}

}  // namespace vigil::worker
