// supervisor.h: the supervisor core: a pool of disposable worker processes
// behind the Dispatcher seam (dispatcher.h).
//
// The supervisor owns every job from Submit to its one terminal callback. It
// spawns `vigil-worker` processes (one model context each), feeds them jobs
// from a bounded FIFO queue (up to each worker's capacity at once, least
// loaded first), watches their heartbeats, sees their death at once through
// a pidfd, retries jobs a dead worker dropped, quarantines inputs that keep
// killing workers when they run alone, and restarts workers with
// exponential backoff under an OTP-style restart intensity.
//
// Ownership: MakeSupervisor returns the only owner. Destroying it SIGKILLs
// and reaps every worker synchronously (no orphans, no zombies); observers of
// unfinished jobs get no callback after that.
//
// Thread-safety: none. Every method, and every callback, runs on the one
// thread that runs the io_context given to MakeSupervisor. No method blocks.
//
// Errors reach clients only through JobObserver::OnFailed (see dispatcher.h):
// kOverloaded (queue full, retryable), kNotReady (draining), kInputQuarantined,
// kWorkerCrashed (retries exhausted: the message names the signal or exit
// code), kTimeout (at the deadline), and the worker's typed failures
// (kInvalidImage, kImageTooLarge, kPromptTooLong, ...) passed through.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "supervisor/dispatcher.h"
#include "supervisor/launcher.h"
#include "supervisor/memory_cgroup.h"

namespace vigil::supervisor {

// Per-phase liveness limits. A loading or busy worker whose progress counter
// (or phase) has not changed for its phase's limit is hung; a worker that
// sent no heartbeat at all for `heartbeat` is hung in any state.
struct HangLimits {
  std::chrono::milliseconds load{120000};
  std::chrono::milliseconds image_encode{120000};  // also image_decode
  std::chrono::milliseconds prefill{60000};
  std::chrono::milliseconds decode{10000};
  std::chrono::milliseconds heartbeat{10000};      // no heartbeat at all
};

struct SupervisorOptions {
  std::string worker_binary;              // path to vigil-worker
  std::vector<std::string> worker_args;   // engine/model flags passed through
  // Applied before exec: set for an external worker program (vigil serve
  // --worker-command), which does not sandbox itself as vigil-worker does.
  SpawnHardening worker_hardening;
  // Devices to spread workers over (ggml names, e.g. "Vulkan0"): slot i gets
  // `--device worker_devices[i % n]`; "auto" becomes `--device auto:i` (the
  // worker takes GPU i modulo the GPUs it sees). Empty: no --device.
  std::vector<std::string> worker_devices;
  int workers = 1;                        // workers that run jobs at once
  int spare_workers = 0;                  // loaded idle extras (take a dead worker's place)
  // Jobs one worker runs at once: passed as `--jobs N` when above 1 (a
  // worker may report a smaller capacity in `loaded`; a protocol-1 worker
  // runs one). A crash with several jobs in a worker is charged to none of
  // them: each is retried alone (supervisor_impl.h, suspects).
  int jobs_per_worker = 1;
  int max_queue = 64;                     // queued jobs beyond this: kOverloaded
  std::chrono::milliseconds request_timeout{120000};
  int max_attempts = 3;                   // workers that may run one job, in total
  int quarantine_after = 2;               // crashes on one input before quarantine
  std::chrono::seconds quarantine_for{600};
  bool allow_fault_injection = false;     // passes --allow-fault-injection, keeps JobSpec.fault
  // Restarts (restart_policy.h). A crash at load backs off from backoff_min
  // to backoff_max; more than restart_intensity loads failing in a row hold
  // the slot for restart_period. A crash in service restarts after
  // service_restart_delay (0: at once), then doubling up to
  // service_backoff_max until a job finishes; never held.
  int restart_intensity = 5;
  std::chrono::seconds restart_period{60};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{10000};
  std::chrono::milliseconds service_restart_delay{0};
  std::chrono::milliseconds service_backoff_max{1000};
  // A worker whose model did not fit its device's memory loads again after
  // this (memory another process holds may come back); not counted as a crash.
  std::chrono::milliseconds oom_retry{30000};
  HangLimits hang;
  std::chrono::milliseconds kill_grace{500};  // Shutdown/Cancel -> SIGKILL
  // RLIMIT_AS for each worker, in bytes; 0: none. An allocation past it fails
  // inside the worker (an oom the supervisor can name) instead of waking the
  // kernel's OOM killer. Leave 0 for GPU engines: drivers map huge ranges.
  int64_t worker_address_space_limit = 0;
  // When set, each worker runs in its own cgroup v2 below these, with
  // memory.max = worker_cgroup_memory_max (memory_cgroup.h); leave
  // worker_address_space_limit 0 then. A kernel OOM kill in a worker's
  // cgroup is reported as cause oom with memory.events as evidence.
  std::shared_ptr<WorkerCgroups> worker_cgroups;
  int64_t worker_cgroup_memory_max = 0;
  std::string model_name;                 // until a worker reports one
  // Optional: receives every supervisor event (the same as the log lines:
  // worker_spawned, worker_loaded, worker_exited, worker_hung, job_retried,
  // input_quarantined, ...) on the event-loop thread. For tests and tools.
  std::function<void(std::string_view event, const nlohmann::json& fields)> event_listener;
};

class Supervisor : public Dispatcher {
 public:
  // Spawns the workers. Jobs submitted before any worker loads wait in the
  // queue. REQUIRES: called once, on the event-loop thread.
  virtual void Start() = 0;
};

std::unique_ptr<Supervisor> MakeSupervisor(boost::asio::io_context& io, SupervisorOptions options);

}  // namespace vigil::supervisor
