// worker_limits.h: the sandbox flags `vigil serve` gives its workers by
// default (worker/sandbox.h does the work inside the worker):
//
// - user: with --worker-user auto (the default), a supervisor running as
//   root runs its workers, once loaded, as `nobody`; a non-root supervisor
//   passes nothing (its workers are already unprivileged). `root` or `none`
//   keeps the supervisor's user; any other name or uid is used as given
//   (pick one in the `render`/`video` group for GPUs that open device nodes
//   after load).
// - memory: with --worker-memory-limit-mb -1 (the default), each worker
//   gets 3/4 of physical memory shared among the worker processes, but never
//   less than twice the model files plus 2 GiB. The mechanism: a cgroup v2
//   memory.max per worker when the supervisor could create cgroups
//   (supervisor/memory_cgroup.h; it caps resident memory, so GPU workers get
//   it too), else RLIMIT_AS on CPU workers only (GPU drivers reserve huge
//   address ranges, so RLIMIT_AS would break them). 0: none.
// Thread-safety: pure, except the log line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vigil::cli {

struct WorkerLimitsRequest {
  std::string user = "auto";
  int64_t memory_limit_mb = -1;  // -1: auto
  bool gpu = false;              // a worker may use a GPU
  int processes = 1;             // workers + spares
  int64_t model_bytes = 0;
  bool cgroup_v2 = false;          // per-worker cgroups could be created
  std::string cgroup_v2_why_not;   // when not: the reason, for the log
  bool external = false;           // --worker-command: the user applies from exec, not after load
};

struct WorkerLimits {
  std::vector<std::string> args;  // for every vigil-worker
  int64_t memory_limit_mb = 0;    // per worker; 0: none
  std::string memory_mechanism;   // "cgroup_v2" | "rlimit_as" | "none"
  std::string summary;            // for the start log
};

WorkerLimits ChooseWorkerLimits(const WorkerLimitsRequest& r, bool running_as_root,
                                int64_t physical_memory_bytes);

}  // namespace vigil::cli
