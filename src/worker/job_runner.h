// job_runner.h: one job, start to finish, on the worker's main thread.
//
// RunJob checks the job's fault request, decodes and downscales the image
// (phase image_decode), hands the engine the pixels, streams Progress and
// Piece frames while it runs, and ends with exactly one Done or Failed frame.
// Fault injection hooks in here, so it works the same with every engine:
// "before_first_token" fires when the engine starts sampling,
// "after_tokens" after the given number of Piece frames.
//
// Thread-safety: main thread only; `cancel` is set by the reader thread.
#pragma once

#include <atomic>

#include "protocol/messages.h"
#include "worker/channel.h"
#include "worker/engine/engine.h"
#include "worker/options.h"
#include "worker/worker_state.h"

namespace vigil::worker {

struct JobContext {
  Channel& channel;
  WorkerState& state;
  Engine& engine;
  const WorkerOptions& options;
  const std::atomic<bool>& cancel;
};

void RunJob(const protocol::Job& job, JobContext& ctx);

}  // namespace vigil::worker
