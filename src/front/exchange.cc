#include "front/exchange.h"

#include <cstdio>

#include "front/text.h"

namespace vigil::front {
namespace {

std::string_view Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

const std::string* Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

nlohmann::json ErrorBody(const Error& error) {
  return {{"error", {{"type", WireName(error.code)}, {"message", error.message}, {"code", HttpStatus(error.code)}}}};
}

std::string SseEvent(const nlohmann::json& data) {
  return "data: " + data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

Exchange::Exchange(Request request, std::shared_ptr<ResponseSink> sink, OutcomeHook hook)
    : request_(std::move(request)), sink_(std::move(sink)), hook_(std::move(hook)) {
  outcome_.method = request_.method;
  outcome_.path = request_.path;
  outcome_.request_id = request_.request_id;
  outcome_.route = "other";
}

Exchange::~Exchange() {
  // A route that dropped its exchange without answering is a bug; the client
  // still gets an answer rather than a hung connection.
  if (!done_ && sink_) {
    if (!started_) {
      RespondError(MakeError(ErrorCode::kInternal, "the request was dropped without a response"));
    } else {
      EndStream();
    }
  }
}

void Exchange::MarkFirstToken() {
  if (!outcome_.ttft_seconds) outcome_.ttft_seconds = SecondsSince(request_.start);
}

std::string Exchange::Head(int status, std::string_view content_type, const Headers& extra, bool chunked,
                           size_t length) const {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + std::string(Reason(status)) + "\r\n";
  h += "Content-Type: " + std::string(content_type) + "\r\n";
  h += chunked ? std::string("Transfer-Encoding: chunked\r\n") : "Content-Length: " + std::to_string(length) + "\r\n";
  h += request_.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  h += "X-Request-Id: " + request_.request_id + "\r\n";
  for (const auto& [k, v] : extra) h += k + ": " + v + "\r\n";
  h += "\r\n";
  return h;
}

void Exchange::Respond(int status, std::string_view content_type, std::string body, Headers extra) {
  if (started_ || done_) return;
  started_ = true;
  outcome_.status = status;
  if (sink_) sink_->Write(Head(status, content_type, extra, false, body.size()) + body);
  Finish();
}

void Exchange::RespondJson(int status, const nlohmann::json& body, Headers extra) {
  Respond(status, "application/json",
          body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", std::move(extra));
}

void Exchange::RespondError(const Error& error, bool retryable) { RespondError(error, retryable, ErrorBody); }

void Exchange::RespondError(const Error& error, bool retryable, nlohmann::json (*body)(const Error&)) {
  Headers extra;
  const int status = HttpStatus(error.code);
  if (error.code == ErrorCode::kOverloaded || error.code == ErrorCode::kNotReady) {
    extra.emplace_back("Retry-After", "1");
  }
  if (!retryable || status < 500) extra.emplace_back("x-should-retry", "false");
  outcome_.error_type = std::string(WireName(error.code));
  RespondJson(status, body(error), std::move(extra));
}

void Exchange::BeginStream(int status, std::string_view content_type, Headers extra) {
  if (started_ || done_) return;
  started_ = true;
  outcome_.status = status;
  extra.emplace_back("Cache-Control", "no-cache");
  // Tells nginx-like proxies not to buffer the event stream.
  extra.emplace_back("X-Accel-Buffering", "no");
  if (sink_) sink_->Write(Head(status, content_type, extra, true, 0));
}

void Exchange::StreamChunk(std::string_view data) {
  if (!started_ || done_ || data.empty() || !sink_) return;
  char size[20];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string chunk = size;
  chunk.append(data);
  chunk += "\r\n";
  sink_->Write(std::move(chunk));
}

void Exchange::EndStream() {
  if (!started_ || done_) return;
  if (sink_) sink_->Write("0\r\n\r\n");
  Finish();
}

void Exchange::Finish() {
  done_ = true;
  outcome_.seconds = SecondsSince(request_.start);
  if (sink_) sink_->Complete(request_.keep_alive);
  sink_.reset();
  gone_hook_ = nullptr;
  if (hook_) hook_(outcome_);
}

void Exchange::ClientGone() {
  if (done_) return;
  done_ = true;
  outcome_.client_gone = true;
  if (outcome_.status == 0) outcome_.status = HttpStatus(ErrorCode::kCancelled);
  outcome_.seconds = SecondsSince(request_.start);
  sink_.reset();
  auto hook = std::move(gone_hook_);
  gone_hook_ = nullptr;
  if (hook) hook();
  if (hook_) hook_(outcome_);
}

}  // namespace vigil::front
