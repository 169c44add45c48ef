// options.h: the worker's command line, the contract with the supervisor
// that spawns it (docs/protocol.md):
//
//   vigil-worker --fd N --engine llama|chaos
//                [--model TEXT.gguf --mmproj MMPROJ.gguf] [--ctx 4096] [--jobs 1]
//                [--threads N] [--gpu-layers N] [--device NAME] [--max-image-pixels P]
//                [--allow-fault-injection] [--fault-at-load KIND]
//                [--chaos-tokens-per-second R] [--chaos-load-ms MS]
//                [--memory-limit-mb MB] [--image-cache-mb MB]
//                [--user NAME|UID] [--no-sandbox]
//
//   vigil-worker --list-devices   (prints the devices ggml sees, one JSON
//                                  object per line, and exits 0)
//   vigil-worker --sandbox-selftest  (tries every forbidden action under the
//                                  sandbox and prints what this machine allows)
//
// A parse or validation error is a fatal configuration error: main prints
// the message and exits with kExitFatalConfig, and the supervisor does not
// respawn a worker that would fail the same way.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace vigil::worker {

struct WorkerOptions {
  int fd = -1;
  std::string engine;  // "llama" | "chaos"
  std::string model;   // llama: text model GGUF
  std::string mmproj;  // llama: vision projector GGUF
  int ctx = 4096;       // per job
  int jobs = 1;         // jobs run at once, as asked; the engine may allow fewer (1..256)
  int threads = 0;      // 0: llama.cpp's default
  int gpu_layers = -1;  // -1: llama.cpp's default (all layers on the GPU if any)
  std::string device;   // a ggml device name ("Vulkan0", "CUDA1"), or auto:N; empty: the first GPU
  int64_t max_image_pixels = 50'000'000;
  bool allow_fault_injection = false;
  std::string fault_at_load;  // a fault kind (fault.h), or empty
  double chaos_tokens_per_second = 2000;
  int chaos_load_ms = 0;
  int64_t memory_limit_mb = 0;  // RLIMIT_AS for this worker; 0: none (sandbox.h)
  int64_t image_cache_mb = 256;  // llama: image embedding cache; 0: off (embedding_cache.h)
  std::string model_name;        // reported instead of the GGUF's general.name; empty: that
  std::string user;     // after load, when root: become this user (sandbox.h); empty: stay
  bool sandbox = true;  // after load: Landlock and seccomp (sandbox.h); --no-sandbox: off
};

// Parses and validates argv. Errors (kInvalidRequest) carry a message for
// stderr; `--help` also comes back as an error holding the usage text.
Result<WorkerOptions> ParseWorkerOptions(int argc, const char* const* argv);

}  // namespace vigil::worker
