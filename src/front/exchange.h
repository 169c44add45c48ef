// exchange.h: one HTTP request and its response, independent of the socket.
//
// The connection (server.cc, the only Beast code of the server) parses a
// request, wraps it in an Exchange with a ResponseSink that writes to its
// socket, and hands it to the router. Routes answer through the Exchange:
// either one complete response (Respond*) or a chunked stream (BeginStream,
// StreamChunk*, EndStream). The Exchange formats HTTP/1.1, counts the
// response in metrics and writes the one log line when it completes.
//
// Ownership: routes and job observers hold shared_ptr<Exchange>; the
// connection holds a weak_ptr and calls ClientGone() when its peer vanished
// before the response completed, which runs the route's cancel hook (e.g.
// Dispatcher::Cancel). After completion or ClientGone every write is a no-op.
//
// Thread-safety: none; everything runs on the server's event-loop thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vigil::front {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query
  std::string query;
  Headers headers;     // names lower-case, in arrival order
  std::string body;
  bool keep_alive = true;
  std::string request_id;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  // First value of a header (name lower-case), or nullptr.
  const std::string* Header(std::string_view name) const;
};

class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  // Queues bytes for the peer, in order.
  virtual void Write(std::string bytes) = 0;
  // The response is complete: keep the connection for the next request or
  // close it once the queued bytes are written.
  virtual void Complete(bool keep_alive) = 0;
};

// What an Exchange reports when it completes (for metrics and the log).
struct Outcome {
  std::string route;
  std::string method;
  std::string path;
  int status = 0;
  double seconds = 0;
  std::optional<double> ttft_seconds;
  int64_t completion_tokens = 0;
  int attempts = 0;
  std::string request_id;
  std::string error_type;  // empty on success
  bool client_gone = false;
};
using OutcomeHook = std::function<void(const Outcome&)>;

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(Request request, std::shared_ptr<ResponseSink> sink, OutcomeHook hook);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  const Request& request() const { return request_; }
  void set_route(std::string route) { outcome_.route = std::move(route); }
  void set_attempts(int attempts) { outcome_.attempts = attempts; }
  void AddCompletionTokens(int64_t n) { outcome_.completion_tokens += n; }
  void MarkFirstToken();  // first call only: time to first token

  // One complete response.
  void Respond(int status, std::string_view content_type, std::string body, Headers extra = {});
  void RespondJson(int status, const nlohmann::json& body, Headers extra = {});
  // {"error": {...}} with the status of error.h's table; Retry-After on 503;
  // x-should-retry: false when !retryable.
  void RespondError(const Error& error, bool retryable = true);
  // The same status and headers with another body shape (Ollama's
  // {"error": "message"}); body(error) builds it.
  void RespondError(const Error& error, bool retryable, nlohmann::json (*body)(const Error&));

  // A chunked response (SSE).
  void BeginStream(int status, std::string_view content_type, Headers extra = {});
  void StreamChunk(std::string_view data);
  void EndStream();

  bool started() const { return started_; }
  bool done() const { return done_; }

  // Runs when the client leaves before the response completed.
  void OnClientGone(std::function<void()> hook) { gone_hook_ = std::move(hook); }
  void ClientGone();

 private:
  std::string Head(int status, std::string_view content_type, const Headers& extra, bool chunked,
                   size_t length) const;
  void Finish();

  Request request_;
  std::shared_ptr<ResponseSink> sink_;
  OutcomeHook hook_;
  Outcome outcome_;
  std::function<void()> gone_hook_;
  bool started_ = false;
  bool done_ = false;
};

// The error body {"error": {"type", "message", "code"}} (also used in SSE).
nlohmann::json ErrorBody(const Error& error);
// "data: <json>\n\n"
std::string SseEvent(const nlohmann::json& data);

}  // namespace vigil::front
