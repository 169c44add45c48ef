// POST /analyze: images (one or more) + prompt; JSON answer or an SSE stream.
//
// Stream events: {"progress": {...}} while the image is decoded/encoded and
// the prompt prefilled, {"text": "<piece>"} per piece, then exactly one of
// {"done": true, ...} or {"error": {...}}. The stream (and its 200) starts
// with the first event from the job, so a failure before any event still
// gets its real HTTP status.
#include "front/routes/routes.h"
#include "front/text.h"

namespace vigil::front {
namespace {

using nlohmann::json;

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

class AnalyzeObserver : public supervisor::JobObserver {
 public:
  AnalyzeObserver(std::shared_ptr<Exchange> ex, bool stream, std::string model, std::vector<image::Info> images)
      : ex_(std::move(ex)), stream_(stream), model_(std::move(model)), images_(std::move(images)) {}

  void OnProgress(const protocol::Progress& p) override {
    if (!stream_) return;
    Begin();
    json progress = {{"phase", p.phase}, {"done", p.done}, {"total", p.total}};
    if (p.image > 0) progress["image"] = p.image;
    ex_->StreamChunk(SseEvent({{"progress", std::move(progress)}}));
  }

  void OnPiece(std::string_view text) override {
    ex_->MarkFirstToken();
    if (!stream_) return;  // the answer is done.text: a retry may restart it
    Begin();
    ex_->StreamChunk(SseEvent({{"text", text}}));
  }

  void OnDone(const protocol::Done& done, int attempts) override {
    ex_->set_attempts(attempts);
    ex_->AddCompletionTokens(done.usage.completion_tokens);
    json body = {{"model", model_},
                 {"finish_reason", done.finish_reason},
                 {"usage", {{"prompt_tokens", done.usage.prompt_tokens},
                            {"completion_tokens", done.usage.completion_tokens}}},
                 {"timings", TimingsJson(done.timings, MsSince(ex_->request().start))},
                 {"image", ImageJson(done, images_)},
                 {"images", ImagesJson(done, images_)},
                 {"attempts", attempts}};
    if (stream_) {
      Begin();
      body["done"] = true;
      ex_->StreamChunk(SseEvent(body));
      ex_->EndStream();
      return;
    }
    body["text"] = done.text;
    ex_->RespondJson(200, body, {{"X-Vigil-Attempts", std::to_string(attempts)}});
  }

  void OnFailed(const Error& error, int attempts, bool retryable) override {
    ex_->set_attempts(attempts);
    if (ex_->started()) {
      json event = ErrorBody(error);
      event["attempts"] = attempts;
      event["retryable"] = retryable;
      ex_->StreamChunk(SseEvent(event));
      ex_->EndStream();
      return;
    }
    ex_->RespondError(error, retryable);
  }

 private:
  void Begin() {
    if (!ex_->started()) ex_->BeginStream(200, "text/event-stream");
  }

  std::shared_ptr<Exchange> ex_;
  bool stream_;
  std::string model_;
  std::vector<image::Info> images_;
};

Result<JobRequest> ParseBody(const FrontContext& ctx, const Request& req) {
  const ParseOptions opts{ctx.options.limits, ctx.options.allow_fault_injection};
  const std::string* type = req.Header("content-type");
  const std::string media = type ? AsciiLower(Trim(std::string_view(*type).substr(0, type->find(';')))) : "";
  if (media == "application/json") return ParseAnalyzeJson(req.body, opts);
  if (media == "multipart/form-data") return ParseAnalyzeMultipart(*type, req.body, opts);
  return MakeError(ErrorCode::kInvalidRequest,
                   "Content-Type must be application/json or multipart/form-data, not \"" +
                       ForLog(media, 60) + "\"");
}

}  // namespace

void HandleAnalyze(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  const Request& req = ex->request();
  auto job = ParseBody(ctx, req);
  if (job.ok()) {
    if (auto s = ApplyControlHeaders(req, ctx.options.allow_fault_injection, *job); !s.ok()) job = s.error();
  }
  if (!job.ok()) {
    ex->RespondError(job.error(), false);
    return;
  }
  const std::string* accept = req.Header("accept");
  if (accept && AsciiLower(*accept).find("text/event-stream") != std::string::npos) job->stream = true;
  auto observer = std::make_shared<AnalyzeObserver>(ex, job->stream, ctx.dispatcher.ModelName(), job->images);
  SubmitJob(ctx, ex, *job, std::move(observer));
}

}  // namespace vigil::front
