// Shared plumbing of the inference routes (see routes.h).
#include <algorithm>

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

nlohmann::json ImageJson(const protocol::Done& done, const std::vector<image::Info>& sniffed, size_t i) {
  if (i < done.images.size()) {
    const auto& d = done.images[i];
    return {{"format", d.format}, {"width", d.width}, {"height", d.height},
            {"model_width", d.model_width}, {"model_height", d.model_height}};
  }
  if (i < sniffed.size()) {
    const auto& s = sniffed[i];
    return {{"format", image::FormatName(s.format)}, {"width", s.width}, {"height", s.height}};
  }
  return nullptr;
}

nlohmann::json ImagesJson(const protocol::Done& done, const std::vector<image::Info>& sniffed) {
  nlohmann::json all = nlohmann::json::array();
  for (size_t i = 0; i < std::max(done.images.size(), sniffed.size()); ++i) {
    all.push_back(ImageJson(done, sniffed, i));
  }
  return all;
}

}  // namespace vigil::front
