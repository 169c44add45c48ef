// Shared plumbing of the inference routes (see routes.h).
#include "front/routes/routes.h"

namespace vigil::front {

Status ApplyControlHeaders(const Request& request, bool allow_fault, JobRequest& job) {
  if (const std::string* fault = request.Header("x-vigil-fault")) {
    if (!allow_fault) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "fault injection is disabled (start the server with --allow-fault-injection)");
    }
    auto spec = ParseFaultText(*fault);
    if (!spec.ok()) return spec.error();
    job.spec.fault = spec->spec;
    job.spec.fault_on_every_attempt = spec->every_attempt;
  }
  if (const std::string* timeout = request.Header("x-vigil-timeout")) {
    auto value = nlohmann::json::parse(*timeout, nullptr, false);
    auto ms = ParseTimeoutSeconds(value.is_discarded() ? nlohmann::json() : value);
    if (!ms.ok()) return MakeError(ErrorCode::kInvalidRequest, "X-Vigil-Timeout: " + ms.error().message);
    job.spec.timeout = *ms;
  }
  return OkStatus();
}

void SubmitJob(FrontContext& ctx, const std::shared_ptr<Exchange>& ex, JobRequest& job,
               std::shared_ptr<supervisor::JobObserver> observer) {
  job.spec.request_id = ex->request().request_id;
  job.spec.streaming = job.stream;
  supervisor::Dispatcher& dispatcher = ctx.dispatcher;
  const supervisor::JobId id = dispatcher.Submit(std::move(job.spec), std::move(observer));
  // The terminal callback may already have come from inside Submit.
  if (!ex->done()) ex->OnClientGone([&dispatcher, id] { dispatcher.Cancel(id); });
}

nlohmann::json TimingsJson(const protocol::Timings& t, double total_ms) {
  return {{"image_decode_ms", t.image_decode_ms}, {"image_encode_ms", t.image_encode_ms},
          {"prefill_ms", t.prefill_ms},           {"decode_ms", t.decode_ms},
          {"total_ms", total_ms}};
}

nlohmann::json ImageJson(const protocol::Done& done, const std::optional<image::Info>& sniffed) {
  if (done.image) {
    const auto& i = *done.image;
    return {{"format", i.format}, {"width", i.width}, {"height", i.height},
            {"model_width", i.model_width}, {"model_height", i.model_height}};
  }
  if (sniffed) {
    return {{"format", image::FormatName(sniffed->format)}, {"width", sniffed->width}, {"height", sniffed->height}};
  }
  return nullptr;
}

}  // namespace vigil::front
