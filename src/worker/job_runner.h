// job_runner.h: one job's life on the worker's main thread, from its Job
// frame to its one Done or Failed frame, while the engine runs it among
// others (engine.h).
//
// Start checks the job's fault request, decodes and downscales each image
// (phase image_decode, a Progress frame per image) and admits the job into the engine; from then on the
// engine drives it through JobEvents: Progress and Piece frames, then Done
// (OnFinished) or Failed (OnFailed). A job cancelled before Start ends at
// once with Done finish_reason "cancelled". ended() turns true with the
// terminal frame; the worker destroys the JobRun after the engine call that
// ended it returned.
//
// Fault injection hooks in here, per job, so it works the same with every
// engine: "before_first_token" fires when THIS job starts sampling,
// "after_tokens" after this job's given number of Piece frames; either kills
// the whole worker, as a poison input would.
//
// Heartbeat: OnWork writes WorkerState's phase and job (the job whose work
// the engine computes now); every advance bumps its progress counter.
//
// Thread-safety: main thread only; `cancel` is set by the reader thread.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "protocol/messages.h"
#include "worker/channel.h"
#include "worker/engine/engine.h"
#include "worker/fault.h"
#include "worker/imaging/image.h"
#include "worker/options.h"
#include "worker/text_stream.h"
#include "worker/worker_state.h"

namespace vigil::worker {

struct JobContext {
  Channel& channel;
  WorkerState& state;
  Engine& engine;
  const WorkerOptions& options;
};

struct ArmedFault {
  FaultKind kind;
  bool at_decode_start;  // else after `after_pieces` pieces
  int64_t after_pieces;
  int exit_code;
};

class JobRun final : public JobEvents {
 public:
  JobRun(protocol::Job job, std::shared_ptr<const std::atomic<bool>> cancel, JobContext& ctx);
  JobRun(const JobRun&) = delete;
  JobRun& operator=(const JobRun&) = delete;

  // REQUIRES: ctx.engine.Running() < ctx.engine.capacity().
  void Start();
  bool ended() const { return ended_; }
  uint64_t job_id() const { return job_.job_id; }

  void OnWork(Phase phase) override;
  void OnProgress(Phase phase, int64_t done, int64_t total, int64_t image = 0) override;
  void OnAdvance() override { ctx_.state.Advance(); }
  void OnDecodeStart() override;
  bool OnToken(std::string_view bytes, int32_t token) override;
  bool cancelled() const override { return cancel_->load(std::memory_order_relaxed); }
  void OnFinished(const RunStats& stats) override;
  void OnFailed(const Error& error) override;

 private:
  Status PrepareImages();
  void Emit(std::string text);
  void Fire();

  protocol::Job job_;
  std::shared_ptr<const std::atomic<bool>> cancel_;
  JobContext& ctx_;
  std::optional<ArmedFault> fault_;
  std::vector<imaging::PreparedImage> images_;  // alive while the engine runs the job
  double image_decode_ms_ = 0;
  TextStream stream_;
  int64_t pieces_ = 0;
  std::vector<int32_t> tokens_;  // sampled since the last piece; go with the next one
  bool ended_ = false;
};

}  // namespace vigil::worker
