// POST /v1/chat/completions: the OpenAI Chat Completions shape, so official
// OpenAI clients work unchanged.
//
// Streaming: chat.completion.chunk objects (a role chunk, content chunks, a
// finish chunk, a usage chunk with empty choices when
// stream_options.include_usage), then "data: [DONE]". Progress while the
// image is encoded goes out as SSE comments (": progress ..."), which
// clients ignore but which keep proxies from timing out. An error after the
// stream began is a data: {"error": {...}} event, which the OpenAI clients
// raise as an APIError.
#include <ctime>

#include "front/routes/routes.h"
#include "front/text.h"

namespace vigil::front {
namespace {

using nlohmann::json;

std::string FinishReason(const std::string& r) { return r == "length" ? "length" : "stop"; }

class ChatObserver : public supervisor::JobObserver {
 public:
  ChatObserver(std::shared_ptr<Exchange> ex, const JobRequest& job, std::string model)
      : ex_(std::move(ex)),
        stream_(job.stream),
        include_usage_(job.include_usage),
        model_(std::move(model)),
        id_("chatcmpl-" + ex_->request().request_id),
        created_(int64_t(std::time(nullptr))) {}

  void OnProgress(const protocol::Progress& p) override {
    if (!stream_) return;
    Begin();
    const std::string image = p.image > 0 ? " image " + std::to_string(p.image) : "";
    ex_->StreamChunk(": progress " + p.phase + image + " " + std::to_string(p.done) + "/" +
                     std::to_string(p.total) + "\n\n");
  }

  void OnPiece(std::string_view text) override {
    ex_->MarkFirstToken();
    if (!stream_) return;  // the answer is done.text: a retry may restart it
    Begin();
    ex_->StreamChunk(SseEvent(Chunk({{"content", text}}, nullptr)));
  }

  void OnDone(const protocol::Done& done, int attempts) override {
    ex_->set_attempts(attempts);
    ex_->AddCompletionTokens(done.usage.completion_tokens);
    const json usage = {{"prompt_tokens", done.usage.prompt_tokens},
                        {"completion_tokens", done.usage.completion_tokens},
                        {"total_tokens", done.usage.prompt_tokens + done.usage.completion_tokens}};
    if (stream_) {
      Begin();
      ex_->StreamChunk(SseEvent(Chunk(json::object(), FinishReason(done.finish_reason))));
      if (include_usage_) {
        json last = Chunk(json::object(), nullptr);
        last["choices"] = json::array();
        last["usage"] = usage;
        ex_->StreamChunk(SseEvent(last));
      }
      ex_->StreamChunk("data: [DONE]\n\n");
      ex_->EndStream();
      return;
    }
    json body = {{"id", id_},
                 {"object", "chat.completion"},
                 {"created", created_},
                 {"model", model_},
                 {"choices", json::array({{{"index", 0},
                                           {"message", {{"role", "assistant"},
                                                        {"content", done.text}}},
                                           {"finish_reason", FinishReason(done.finish_reason)}}})},
                 {"usage", usage},
                 {"vigil", {{"attempts", attempts}, {"timings", TimingsJson(done.timings, 0)}}}};
    ex_->RespondJson(200, body, {{"X-Vigil-Attempts", std::to_string(attempts)}});
  }

  void OnFailed(const Error& error, int attempts, bool retryable) override {
    ex_->set_attempts(attempts);
    if (ex_->started()) {
      ex_->StreamChunk(SseEvent(ErrorBody(error)));
      ex_->EndStream();
      return;
    }
    ex_->RespondError(error, retryable);
  }

 private:
  void Begin() {
    if (ex_->started()) return;
    ex_->BeginStream(200, "text/event-stream");
    ex_->StreamChunk(SseEvent(Chunk({{"role", "assistant"}, {"content", ""}}, nullptr)));
  }

  json Chunk(json delta, json finish_reason) const {
    json c = {{"id", id_},
              {"object", "chat.completion.chunk"},
              {"created", created_},
              {"model", model_},
              {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)},
                                        {"finish_reason", std::move(finish_reason)}}})}};
    if (include_usage_) c["usage"] = nullptr;
    return c;
  }

  std::shared_ptr<Exchange> ex_;
  bool stream_;
  bool include_usage_;
  std::string model_;
  std::string id_;
  int64_t created_;
};

}  // namespace

void HandleChatCompletions(FrontContext& ctx, const std::shared_ptr<Exchange>& ex) {
  const Request& req = ex->request();
  const std::string* type = req.Header("content-type");
  if (type && AsciiLower(Trim(std::string_view(*type).substr(0, type->find(';')))) != "application/json") {
    ex->RespondError(MakeError(ErrorCode::kInvalidRequest, "Content-Type must be application/json"), false);
    return;
  }
  auto job = ParseChatRequest(req.body, {ctx.options.limits, ctx.options.allow_fault_injection});
  if (job.ok()) {
    if (auto s = ApplyControlHeaders(req, ctx.options.allow_fault_injection, *job); !s.ok()) job = s.error();
  }
  if (!job.ok()) {
    ex->RespondError(job.error(), false);
    return;
  }
  auto observer = std::make_shared<ChatObserver>(ex, *job, ctx.dispatcher.ModelName());
  SubmitJob(ctx, ex, *job, std::move(observer));
}

}  // namespace vigil::front
