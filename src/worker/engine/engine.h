// engine.h: the model wrapper inside a worker, behind one interface so the
// worker loop runs llama.cpp and the model-free chaos engine alike.
//
// Life: MakeEngine -> Load once -> { Admit jobs, Step while !Empty() } ->
// destroy. An engine runs up to capacity() jobs at once (continuous
// batching): Admit adds a job between steps, and each Step does one unit of
// work for the jobs it holds (llama: encode and decode one newcomer's image,
// or one llama_decode carrying one token for every generating job plus a
// prompt chunk of prefilling jobs; chaos: the tokens that fell due). Capacity
// 1 is the same path with one job.
//
//   Admit ──> prefill (image_encode, prefill) ──> decode ──> OnFinished
//                 │                                 │   (stop|length|cancelled)
//                 └──────────── OnFailed <──────────┘
//
// Every admitted job ends exactly once, through its JobEvents: OnFinished
// (with RunStats; a cancelled job finishes with finish_reason "cancelled"
// and whatever text it produced) or OnFailed (a typed Error). The call may
// come from inside Admit (a bad prompt) or Step. After it the engine never
// touches that JobEvents again; the worker may destroy it once the Admit or
// Step call returns (not from inside the callback).
//
// Image bytes never reach an engine: the worker decodes and downscales them
// (src/worker/imaging) to the side image_size() asks for and passes RGB8.
//
// Errors: Load failing is a fatal configuration error for the worker (exit
// 2); its code says why: kOutOfMemory when the model, context or compute
// buffers do not fit the device, kInvalidRequest for a bad option (unknown
// device), kInternal otherwise. Jobs fail with typed errors for bad input
// (kPromptTooLong, kInvalidRequest, kInvalidImage), kOutOfMemory when a step
// cannot allocate, and kInternal for a failing library.
//
// Determinism: a job's text depends only on the job (prompt, image,
// params), never on which other jobs share its steps; the supervisor
// replays greedy and fixed-seed jobs after a crash and compares text.
//
// Thread-safety: an engine is used by one thread (the worker's main
// thread). JobEvents::cancelled() may flip at any time from another thread;
// engines poll it between steps and from llama's abort callbacks, and a
// step that carries several jobs is never aborted for one of them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "protocol/messages.h"
#include "worker/imaging/image.h"
#include "worker/worker_state.h"

namespace vigil::worker {

struct EngineOptions {
  std::string model;
  std::string mmproj;
  int ctx = 4096;   // per job: a job's prompt plus output must fit
  int capacity = 1; // jobs at once, as asked (--jobs); capacity() may be lower
  int threads = 0;
  int gpu_layers = -1;
  std::string device;  // ggml device name; empty: the library's default
  double chaos_tokens_per_second = 2000;  // per running job
  int chaos_load_ms = 0;
  // llama: bytes of vision-encoder outputs kept for repeated images, in MiB
  // (embedding_cache.h); 0 disables the cache.
  int64_t image_cache_mb = 256;
  std::string model_name;  // reported name; empty: the model's own (general.name, else file stem)
};

struct EngineJob {
  uint64_t job_id = 0;
  std::string prompt;
  // The conversation to render with the model's chat template; empty: one
  // user turn holding every image, then `prompt` (protocol::Job).
  std::vector<protocol::ChatMessage> messages;
  protocol::SamplingParams params;
  // Empty: text only. In the order the conversation places them; the worker
  // keeps the pixels alive until the job ends (OnFinished/OnFailed).
  std::vector<const imaging::RgbImage*> images;
  // Tokens a dead worker already generated for this job (protocol
  // Job::resume_tokens): prefilled after the prompt, passed to OnToken again
  // before sampling resumes, and counted as generated.
  std::vector<int32_t> resume_tokens;
};

// What the engine measured; the worker adds text and image facts.
struct RunStats {
  std::string finish_reason;  // stop | length | cancelled
  protocol::Usage usage;
  protocol::Timings timings;  // image_encode_ms, prefill_ms, decode_ms (wall time per phase)
};

// The engine's window to the worker for one admitted job.
class JobEvents {
 public:
  virtual ~JobEvents() = default;
  // This job's work is what the worker computes now, in `phase` (heartbeat
  // phase and job). Called at the start of every step, for one job of it.
  virtual void OnWork(Phase phase) = 0;
  // Reports done/total in `phase` (a Progress frame for image_encode and
  // prefill); `image`: which image of the job it is about, from 1 (0: none).
  // Also counts as an advance.
  virtual void OnProgress(Phase phase, int64_t done, int64_t total, int64_t image = 0) = 0;
  // The engine made real progress (heartbeat counter), without a frame.
  virtual void OnAdvance() = 0;
  // Prefill is over and sampling starts for this job.
  virtual void OnDecodeStart() = 0;
  // Generated bytes, any split of UTF-8. Returns false when a stop string
  // appeared: the engine must finish the job with finish_reason "stop".
  // `token` is the engine's id for it (sent back as resume tokens).
  virtual bool OnToken(std::string_view bytes, int32_t token) = 0;
  // True once the supervisor cancelled the job. Cheap; any thread.
  virtual bool cancelled() const = 0;
  // The job's end: exactly one of these, once.
  virtual void OnFinished(const RunStats& stats) = 0;
  virtual void OnFailed(const Error& error) = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // Loads the model. `advance` is called on every load step (heartbeat).
  virtual Result<protocol::ModelFacts> Load(const EngineOptions& options,
                                            const std::function<void()>& advance) = 0;
  // The side the worker may downscale images to before the engine sees
  // them, in pixels (valid after Load); 0: pass them at full size.
  virtual int image_size() const = 0;
  // Jobs the engine runs at once (valid after Load): options.capacity, or
  // less if the library allows fewer sequences.
  virtual int capacity() const = 0;
  // Adds a job; it starts at the next Step. May end it at once through
  // `events` (bad prompt, prompt too long).
  // REQUIRES: Running() < capacity(); `events` outlives the job.
  virtual void Admit(const EngineJob& job, JobEvents& events) = 0;
  // One unit of work for the running jobs (see above); ends cancelled jobs.
  // Returns promptly (one decode, one image, or a few ms of chaos).
  // REQUIRES: !Empty().
  virtual void Step() = 0;
  // Jobs admitted and not yet ended.
  virtual int Running() const = 0;
  bool Empty() const { return Running() == 0; }
  // Bytes free on the device the engine computes on, as its library reports
  // them for the whole device; 0 if unknown. Called when a job ends.
  virtual int64_t DeviceMemoryFree() const { return 0; }
};

// One JSON object per line for each device the engines' libraries see
// (name, description, type, memory_total, memory_free), for
// `vigil-worker --list-devices`.
std::string ListDevices();

// "llama" | "chaos"; nullptr for any other name.
std::unique_ptr<Engine> MakeEngine(std::string_view name);

}  // namespace vigil::worker
