// routes.h: the route handlers, one file each under src/front/routes/.
//
// Each handler answers through the Exchange exactly once (directly or later
// from a job observer). Handlers never block: inference routes submit a job
// to the Dispatcher and return.
#pragma once

#include <memory>

#include "front/context.h"
#include "front/exchange.h"
#include "front/job_request.h"

namespace vigil::front {

void HandleAnalyze(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleChatCompletions(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleModels(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleHealth(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleReady(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleMetrics(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleWorkers(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleHome(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
// Ollama's API (routes/ollama.cc, routes/ollama_models.cc).
void HandleOllamaChat(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleOllamaGenerate(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleOllamaTags(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleOllamaShow(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleOllamaPs(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);
void HandleOllamaVersion(FrontContext& ctx, const std::shared_ptr<Exchange>& ex);

// Shared by the inference routes (routes/inference_common.cc).
// Applies the X-Vigil-Fault and X-Vigil-Timeout headers.
Status ApplyControlHeaders(const Request& request, bool allow_fault, JobRequest& job);
// Submits the job; a client that leaves cancels it.
void SubmitJob(FrontContext& ctx, const std::shared_ptr<Exchange>& ex, JobRequest& job,
               std::shared_ptr<supervisor::JobObserver> observer);
// The JSON shape of timings / image facts shared by the routes.
nlohmann::json TimingsJson(const protocol::Timings& t, double total_ms);
// Facts of image i (the worker's, else what the front sniffed); null if none.
nlohmann::json ImageJson(const protocol::Done& done, const std::vector<image::Info>& sniffed, size_t i = 0);
// Every image's facts, in order.
nlohmann::json ImagesJson(const protocol::Done& done, const std::vector<image::Info>& sniffed);

}  // namespace vigil::front
