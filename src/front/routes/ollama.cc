// POST /api/chat and POST /api/generate: Ollama's generation routes, so
// Ollama's clients (its libraries, Open WebUI, editors) work unchanged.
//
// Streaming (the default): application/x-ndjson, one JSON object per line.
// Each piece is a line {"model", "created_at", "message": {"role":
// "assistant", "content": piece}, "done": false} (/api/generate: "response":
// piece); the last line has "done": true, "done_reason" (stop | length),
// and Ollama's counters: total_duration, load_duration, prompt_eval_count,
// prompt_eval_duration, eval_count, eval_duration, in nanoseconds
// (prompt_eval_duration covers image decode + encode + prefill; load_duration
// is 0: the model was loaded before the request). A failure after the stream
// began is a last line {"error": "...", "error_type": "..."}; before it, the
// error's real status with {"error": "..."}. stream: false answers one object.
// An empty message list / prompt answers done_reason "load" (503 while no
// worker is ready). Retries, deadlines, quarantine and cancel-on-disconnect
// are the supervisor's, as on every route.
#include "front/ollama_request.h"
#include "front/routes/ollama_common.h"
#include "front/routes/routes.h"

namespace vigil::front {
namespace {

using nlohmann::json;

enum class Shape { kChat, kGenerate };

int64_t Ns(double ms) { return static_cast<int64_t>(ms * 1e6); }

class OllamaObserver : public supervisor::JobObserver {
 public:
  OllamaObserver(std::shared_ptr<Exchange> ex, Shape shape, bool stream, std::string model)
      : ex_(std::move(ex)), shape_(shape), stream_(stream), model_(std::move(model)) {}

  void OnPiece(std::string_view text) override {
    ex_->MarkFirstToken();
    if (!stream_) return;  // the answer is done.text: a retry may restart it
    Begin();
    json line = Line(std::string(text));
    line["done"] = false;
    Write(line);
  }

  void OnDone(const protocol::Done& done, int attempts) override {
    ex_->set_attempts(attempts);
    ex_->AddCompletionTokens(done.usage.completion_tokens);
    const protocol::Timings& t = done.timings;
    const double total_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ex_->request().start).count();
    json last = Line(stream_ ? std::string() : done.text);
    last["done"] = true;
    last["done_reason"] = done.finish_reason == "length" ? "length" : "stop";
    last["total_duration"] = Ns(total_ms);
    last["load_duration"] = 0;
    last["prompt_eval_count"] = done.usage.prompt_tokens;
    last["prompt_eval_duration"] = Ns(t.image_decode_ms + t.image_encode_ms + t.prefill_ms);
    last["eval_count"] = done.usage.completion_tokens;
    last["eval_duration"] = Ns(t.decode_ms);
    last["vigil"] = {{"attempts", attempts}, {"timings", TimingsJson(t, total_ms)}};
    if (stream_) {
      Begin();
      Write(last);
      ex_->EndStream();
      return;
    }
    ex_->RespondJson(200, last, {{"X-Vigil-Attempts", std::to_string(attempts)}});
  }

  void OnFailed(const Error& error, int attempts, bool retryable) override {
    ex_->set_attempts(attempts);
    if (ex_->started()) {
      Write(ollama::ErrorBody(error));
      ex_->EndStream();
      return;
    }
    ollama::RespondError(ex_, error, retryable);
  }

 private:
  json Line(std::string content) const {
    json line = {{"model", model_}, {"created_at", ollama::Timestamp(std::chrono::system_clock::now())}};
    if (shape_ == Shape::kChat) {
      line["message"] = {{"role", "assistant"}, {"content", std::move(content)}};
    } else {
      line["response"] = std::move(content);
    }
    return line;
  }
  void Begin() {
    if (!ex_->started()) ex_->BeginStream(200, "application/x-ndjson");
  }
  void Write(const json& line) {
    ex_->StreamChunk(line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
  }

  std::shared_ptr<Exchange> ex_;
  Shape shape_;
  bool stream_;
  std::string model_;
};

void Handle(FrontContext& ctx, const std::shared_ptr<Exchange>& ex, Shape shape) {
  const Request& req = ex->request();
  const ParseOptions opts{ctx.options.limits, ctx.options.allow_fault_injection};
  auto parsed = shape == Shape::kChat ? ParseOllamaChat(req.body, opts) : ParseOllamaGenerate(req.body, opts);
  if (parsed.ok()) {
    if (auto s = ollama::CheckModel(ctx.dispatcher, parsed->model); !s.ok()) parsed = s.error();
  }
  if (parsed.ok()) {
    if (auto s = ApplyControlHeaders(req, ctx.options.allow_fault_injection, parsed->job); !s.ok()) parsed = s.error();
  }
  if (!parsed.ok()) return ollama::RespondError(ex, parsed.error(), false);
  if (parsed->load_only) {
    // Ollama loads the model and says so; vigil's workers load at start, so
    // this says whether one is ready.
    const supervisor::Readiness r = ctx.dispatcher.GetReadiness();
    if (!r.ready) return ollama::RespondError(ex, MakeError(ErrorCode::kNotReady, r.reason.empty() ? "not ready" : r.reason));
    json body = {{"model", parsed->model}, {"created_at", ollama::Timestamp(std::chrono::system_clock::now())}};
    if (shape == Shape::kChat) {
      body["message"] = {{"role", "assistant"}, {"content", ""}};
    } else {
      body["response"] = "";
    }
    body["done_reason"] = "load";
    body["done"] = true;
    return ex->RespondJson(200, body);
  }
  auto observer = std::make_shared<OllamaObserver>(ex, shape, parsed->job.stream, parsed->model);
  SubmitJob(ctx, ex, parsed->job, std::move(observer));
}

}  // namespace

void HandleOllamaChat(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) { Handle(ctx, ex, Shape::kChat); }
void HandleOllamaGenerate(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) { Handle(ctx, ex, Shape::kGenerate); }

}  // namespace vigil::front
