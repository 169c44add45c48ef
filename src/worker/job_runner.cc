#include "worker/job_runner.h"

#include <chrono>
#include <optional>

#include "worker/fault.h"
#include "worker/imaging/image.h"
#include "worker/text_stream.h"

namespace vigil::worker {
namespace {

using Clock = std::chrono::steady_clock;

struct ArmedFault {
  FaultKind kind;
  bool at_decode_start;  // else after `after_pieces` pieces
  int64_t after_pieces;
  int exit_code;
};

// Validates the job's fault request. nullopt and no error: no fault asked.
Result<std::optional<ArmedFault>> ArmFault(const protocol::Job& job, const WorkerOptions& o) {
  if (!job.fault) return std::optional<ArmedFault>{};
  if (!o.allow_fault_injection) {
    return MakeError(ErrorCode::kInvalidRequest, "fault injection disabled");
  }
  const auto& f = *job.fault;
  std::optional<FaultKind> kind = ParseFaultKind(f.kind);
  if (!kind) return MakeError(ErrorCode::kInvalidRequest, "unknown fault kind " + f.kind);
  if (f.at != "before_first_token" && f.at != "after_tokens") {
    return MakeError(ErrorCode::kInvalidRequest, "unknown fault point " + f.at);
  }
  const bool at_start = f.at == "before_first_token" || f.after_tokens == 0;
  return std::optional<ArmedFault>(
      ArmedFault{*kind, at_start, f.after_tokens, static_cast<int>(f.exit_code)});
}

class Events final : public JobEvents {
 public:
  Events(const protocol::Job& job, JobContext& ctx, std::optional<ArmedFault> fault)
      : job_(job), ctx_(ctx), fault_(fault), stream_(job.params.stop) {}

  void OnProgress(Phase phase, int64_t done, int64_t total) override {
    ctx_.state.phase = phase;
    ctx_.state.Advance();
    ctx_.channel.Send(protocol::ToFrame(protocol::Progress{job_.job_id, PhaseName(phase), done, total}));
  }
  void OnAdvance() override { ctx_.state.Advance(); }
  void OnDecodeStart() override {
    ctx_.state.phase = Phase::kDecode;
    if (fault_ && fault_->at_decode_start) Fire();
  }
  bool OnToken(std::string_view bytes) override {
    TextStream::Update u = stream_.Push(bytes);
    Emit(std::move(u.emit));
    return !u.stopped;
  }
  bool cancelled() const override { return ctx_.cancel.load(std::memory_order_relaxed); }

  // End of generation: sends what the stream held back; returns the text.
  std::string Finish() {
    Emit(stream_.Flush());
    return stream_.text();
  }

 private:
  void Emit(std::string text) {
    if (text.empty()) return;
    ctx_.channel.Send(protocol::ToFrame(protocol::Piece{job_.job_id, std::move(text)}));
    ++pieces_;
    if (fault_ && !fault_->at_decode_start && pieces_ == fault_->after_pieces) Fire();
  }
  void Fire() {
    const ArmedFault f = *fault_;
    fault_.reset();  // garbage returns; fire once
    TriggerFault(f.kind, f.exit_code, ctx_.channel);
  }

  const protocol::Job& job_;
  JobContext& ctx_;
  std::optional<ArmedFault> fault_;
  TextStream stream_;
  int64_t pieces_ = 0;
};

void SendFailed(JobContext& ctx, uint64_t job_id, const Error& e) {
  ctx.channel.Send(protocol::ToFrame(protocol::Failed{job_id, e.code, e.message}));
}

// Decodes the job's image, if any. nullopt: text-only job.
Result<std::optional<imaging::PreparedImage>> PrepareImage(const protocol::Job& job,
                                                           JobContext& ctx, double& ms) {
  if (job.image.empty()) return std::optional<imaging::PreparedImage>{};
  ctx.state.phase = Phase::kImageDecode;
  ctx.channel.Send(protocol::ToFrame(protocol::Progress{job.job_id, "image_decode", 0, 1}));
  const auto t = Clock::now();
  imaging::Limits limits;
  limits.max_pixels = job.max_image_pixels > 0 ? job.max_image_pixels : ctx.options.max_image_pixels;
  Result<imaging::PreparedImage> image = imaging::Prepare(job.image, limits, ctx.engine.image_size());
  ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  if (!image) return image.error();
  ctx.state.Advance();
  ctx.channel.Send(protocol::ToFrame(protocol::Progress{job.job_id, "image_decode", 1, 1}));
  return std::optional<imaging::PreparedImage>(std::move(*image));
}

}  // namespace

void RunJob(const protocol::Job& job, JobContext& ctx) {
  ctx.state.job_id = job.job_id;
  Result<std::optional<ArmedFault>> fault = ArmFault(job, ctx.options);
  if (!fault) return SendFailed(ctx, job.job_id, fault.error());

  double decode_ms = 0;
  Result<std::optional<imaging::PreparedImage>> image = PrepareImage(job, ctx, decode_ms);
  if (!image) return SendFailed(ctx, job.job_id, image.error());

  EngineJob ejob;
  ejob.job_id = job.job_id;
  ejob.prompt = job.prompt;
  ejob.params = job.params;
  ejob.image = *image ? &(*image)->model : nullptr;
  Events events(job, ctx, *fault);
  Result<RunStats> stats = ctx.engine.Run(ejob, events);
  if (!stats) return SendFailed(ctx, job.job_id, stats.error());

  protocol::Done done;
  done.job_id = job.job_id;
  done.text = events.Finish();
  done.finish_reason = stats->finish_reason;
  done.usage = stats->usage;
  done.timings = stats->timings;
  done.timings.image_decode_ms = decode_ms;
  if (*image) {
    const imaging::PreparedImage& p = **image;
    done.image = protocol::ImageFacts{p.width, p.height, p.model.width, p.model.height,
                                      std::string(imaging::FormatName(p.format))};
  }
  done.device_memory_free = ctx.engine.DeviceMemoryFree();
  ctx.channel.Send(protocol::ToFrame(done));
}

}  // namespace vigil::worker
