#include "worker/job_runner.h"

#include <chrono>

namespace vigil::worker {
namespace {

using Clock = std::chrono::steady_clock;

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

}  // namespace

JobRun::JobRun(protocol::Job job, std::shared_ptr<const std::atomic<bool>> cancel, JobContext& ctx)
    : job_(std::move(job)), cancel_(std::move(cancel)), ctx_(ctx), stream_(job_.params.stop) {}

void JobRun::Start() {
  if (cancelled()) {  // cancelled while queued: nothing was computed
    RunStats stats;
    stats.finish_reason = "cancelled";
    return OnFinished(stats);
  }
  ctx_.state.job_id = job_.job_id;
  Result<std::optional<ArmedFault>> fault = ArmFault(job_, ctx_.options);
  if (!fault) return OnFailed(fault.error());
  fault_ = *fault;
  if (Status s = PrepareImages(); !s) return OnFailed(s.error());
  job_.images.clear();  // the encoded bytes are not needed any more

  EngineJob ejob;
  ejob.job_id = job_.job_id;
  ejob.prompt = job_.prompt;
  ejob.messages = std::move(job_.messages);
  ejob.params = job_.params;
  for (const auto& img : images_) ejob.images.push_back(&img.model);
  ejob.resume_tokens = std::move(job_.resume_tokens);
  ctx_.engine.Admit(ejob, *this);
}

// Decodes the job's images, if any; the first bad one fails the job, named.
Status JobRun::PrepareImages() {
  const int64_t n = static_cast<int64_t>(job_.images.size());
  if (n == 0) return OkStatus();
  OnWork(Phase::kImageDecode);
  imaging::Limits limits;
  limits.max_pixels = job_.max_image_pixels > 0 ? job_.max_image_pixels : ctx_.options.max_image_pixels;
  images_.reserve(job_.images.size());  // the engine holds pointers into it
  for (int64_t i = 0; i < n; ++i) {
    const int64_t number = n > 1 ? i + 1 : 0;
    ctx_.channel.Send(protocol::ToFrame(protocol::Progress{job_.job_id, "image_decode", i, n, number}));
    const auto t = Clock::now();
    Result<imaging::PreparedImage> image =
        imaging::Prepare(job_.images[static_cast<size_t>(i)], limits, ctx_.engine.image_size());
    image_decode_ms_ += std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    if (!image) {
      Error e = image.error();
      if (n > 1) e.message = "image " + std::to_string(i + 1) + ": " + e.message;
      return e;
    }
    ctx_.state.Advance();
    images_.push_back(std::move(*image));
  }
  ctx_.channel.Send(protocol::ToFrame(protocol::Progress{job_.job_id, "image_decode", n, n, 0}));
  return OkStatus();
}

void JobRun::OnWork(Phase phase) {
  ctx_.state.phase = phase;
  ctx_.state.job_id = job_.job_id;
}

void JobRun::OnProgress(Phase phase, int64_t done, int64_t total, int64_t image) {
  ctx_.state.Advance();
  ctx_.channel.Send(protocol::ToFrame(protocol::Progress{job_.job_id, PhaseName(phase), done, total, image}));
}

void JobRun::OnDecodeStart() {
  if (fault_ && fault_->at_decode_start) Fire();
}

bool JobRun::OnToken(std::string_view bytes, int32_t token) {
  tokens_.push_back(token);
  TextStream::Update u = stream_.Push(bytes);
  Emit(std::move(u.emit));
  return !u.stopped;
}

void JobRun::Emit(std::string text) {
  if (text.empty()) return;
  ctx_.channel.Send(protocol::ToFrame(protocol::Piece{job_.job_id, std::move(text), std::move(tokens_)}));
  tokens_.clear();
  ++pieces_;
  if (fault_ && !fault_->at_decode_start && pieces_ == fault_->after_pieces) Fire();
}

void JobRun::Fire() {
  const ArmedFault f = *fault_;
  fault_.reset();  // garbage returns; fire once
  // The crash report names the job that carried the poison.
  ctx_.state.phase = Phase::kDecode;
  ctx_.state.job_id = job_.job_id;
  TriggerFault(f.kind, f.exit_code, ctx_.channel);
}

void JobRun::OnFinished(const RunStats& stats) {
  Emit(stream_.Flush());  // what the stream held back
  protocol::Done done;
  done.job_id = job_.job_id;
  done.text = stream_.text();
  done.finish_reason = stats.finish_reason;
  done.usage = stats.usage;
  done.timings = stats.timings;
  done.timings.image_decode_ms = image_decode_ms_;
  for (const auto& img : images_) {
    done.images.push_back(protocol::ImageFacts{img.width, img.height, img.model.width, img.model.height,
                                               std::string(imaging::FormatName(img.format))});
  }
  done.device_memory_free = ctx_.engine.DeviceMemoryFree();
  ctx_.channel.Send(protocol::ToFrame(done));
  ended_ = true;
}

void JobRun::OnFailed(const Error& e) {
  ctx_.channel.Send(protocol::ToFrame(protocol::Failed{job_.job_id, e.code, e.message}));
  ended_ = true;
}

}  // namespace vigil::worker
