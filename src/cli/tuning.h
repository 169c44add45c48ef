// tuning.h: what `vigil serve` runs with when the user sets no tuning flag.
//
// A user who sets nothing must get vigil's best on the machine at hand, so the
// number of workers, jobs per worker (continuous batching inside a worker),
// engine threads per worker and loaded spare workers are chosen from the CPU
// cores this process may run on and the GPUs a worker sees:
//
//   GPUs present (and --gpu-layers not 0): one worker per GPU, 8 jobs each
//     (a GPU's throughput grows with the batch), threads = cores / workers
//     but at most 4 (the layers run on the GPU; CPU threads only spin),
//     plus one loaded spare when the GPU's free memory holds three copies of
//     the model files (the spare takes a dead worker's place at once);
//   CPU only: one worker running 4 jobs (llama-server's 4 slots) on every
//     core, no spare (a second copy of the buffers costs memory and a CPU
//     worker reloads in about the time a spare would save).
//
// Never more engine threads than cores for the workers that run jobs: ggml's
// threads spin at barriers, so one descheduled thread stalls every token
// (docs/benchmarks.md, "One engine thread per server": llama-server -t 2 on 2
// loaded cores had 50-100x the e2e p99 of one-thread workers). A flag the
// user sets always wins; the others are derived from it (e.g. --workers 2 on
// 2 cores gives 1 thread each).
// Thread-safety: pure functions, except ProbeMachine (runs a worker binary).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vigil::cli {

struct Gpu {
  std::string name;  // ggml name, e.g. "Vulkan0"
  int64_t memory_total = 0;
  int64_t memory_free = 0;
};

struct Machine {
  int cores = 1;          // CPUs this process may run on (sched_getaffinity)
  std::vector<Gpu> gpus;  // as `vigil-worker --list-devices` reports them
};

// Reads the cores; lists GPUs by running `worker_binary --list-devices`
// (the supervisor links no GPU library) when want_gpus. A worker that cannot
// list devices means no GPU.
Machine ProbeMachine(const std::string& worker_binary, bool want_gpus);

// What the user asked for; 0 (or -1 for spare) means "choose".
struct TuningRequest {
  int workers = 0;
  int jobs = 0;
  int threads = 0;
  int spare_workers = -1;
  int gpu_layers = -1;       // 0: CPU only even with GPUs
  int64_t model_bytes = 0;   // text + mmproj files, for the spare's memory check
};

struct Tuning {
  int workers = 1;
  int jobs = 1;
  int threads = 1;
  int spare_workers = 0;
  std::string basis;  // e.g. "2 cores, no GPU": what the choice was made from
};

Tuning ChooseTuning(const Machine& machine, const TuningRequest& request);

}  // namespace vigil::cli
