// worker.h: the worker process's life after flag parsing.
//
//   Hello -> load (heartbeats phase "load") -> Loaded -> serve jobs -> exit
//
//   state         leaves by                       exit code
//   load          engine fails to load            kExitFatalConfig (2)
//   serve         Shutdown frame, queued and
//                 running jobs all ended          kExitClean (0)
//   any           EOF from the supervisor         kExitProtocolError (3)
//   any           malformed or unexpected frame   kExitProtocolError (3)
//   any           fatal signal (crash_handler.h)  killed by that signal
//
// Threads: the main thread loads, then loops: admit queued jobs while the
// engine runs fewer than its capacity (JobRun::Start: fault, image decode,
// Admit), Step the engine while any job runs, block on the inbox only when
// none does. A reader thread reads frames, queueing jobs and raising per-job
// cancel flags (a Cancel must get through while the main thread computes);
// the heartbeat thread reports WorkerState. Protocol errors seen by the
// reader end the process from the reader: the main thread may be deep inside
// llama.cpp with no way to hear about them. `loaded.capacity` announces the
// engine's capacity (--jobs, possibly lowered by the engine).
#pragma once

#include "worker/options.h"
#include "worker/worker_state.h"

namespace vigil::worker {

// Runs the worker to completion and returns the process exit code.
// REQUIRES: options validated (ParseWorkerOptions); `state` outlives it.
int RunWorker(const WorkerOptions& options, WorkerState& state);

}  // namespace vigil::worker
