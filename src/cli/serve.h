// serve.h: `vigil serve`: the supervisor and the HTTP front on one event
// loop. SIGTERM/SIGINT drain (stop accepting, finish in-flight requests
// within --drain-grace, stop the workers); a second signal stops at once.
// Prints "vigil: listening on http://HOST:PORT" on stdout once bound (with
// --port 0 the kernel picks the port; tests read it from that line).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "front/context.h"
#include "supervisor/memory_cgroup.h"

namespace CLI {
class App;
}

namespace vigil::cli {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string engine = "llama";   // "external" once --worker-command is given
  std::string worker_command;     // --worker-command: a program that replaces vigil-worker (worker_command.h)
  std::string model, mmproj;
  int workers = 0;         // 0: chosen from the machine (tuning.h)
  int spare_workers = -1;  // -1: chosen from the machine
  int jobs = 0;            // jobs per worker at once; 0: chosen from the machine
  double request_timeout_s = 120;
  int max_queue = 64;
  int max_attempts = 3;
  int quarantine_after = 2;
  double quarantine_for_s = 600;
  double drain_grace_s = 30;
  double hang_limit_s = 0;          // >0: caps the busy-phase hang limits (HangLimits)
  double load_hang_limit_s = 0;     // >0: HangLimits.load
  int64_t worker_memory_limit_mb = -1;  // >0: each worker's memory limit, MiB; 0: none; -1: auto (worker_limits.h)
  std::string worker_user = "auto";     // workers' user once loaded (worker_limits.h)
  bool gpu_present = false;             // set by ApplyTuning
  int64_t model_bytes = 0;              // text + mmproj files; set by ResolveModel
  std::shared_ptr<supervisor::WorkerCgroups> worker_cgroups;  // set by WorkerArgs when cgroup v2 is used
  std::string worker_fault_at_load;    // tests: --fault-at-load KIND for every worker
  int ctx = 4096;
  int threads = 0;  // engine threads per worker; 0: chosen from the machine
  int gpu_layers = -1;
  std::vector<std::string> worker_devices{"auto"};  // spread workers over these (ggml names)
  double oom_retry_s = 30;  // a worker that ran out of device memory loads again after this
  int image_cache_mb = 256;            // per worker; 0: off
  std::string model_name;              // --model-name; empty: the GGUF's general.name
  front::FrontOptions front;
  std::string log_level = "info";
};

// Adds the serve flags to sub; they fill opts.
void AddServeFlags(CLI::App& sub, ServeOptions& opts);
int RunServe(ServeOptions opts);

}  // namespace vigil::cli
