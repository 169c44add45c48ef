// server.h: the HTTP/1.1 server of vigil (Boost.Beast), on the supervisor's
// single-threaded io_context. Nothing in it blocks.
//
// Per connection: keep-alive; the request header must arrive within
// header_timeout and be at most max_header_bytes (else 431 and close); the
// body must arrive within body_timeout and is cut off at max_body_bytes as
// soon as the limit is crossed (413, without reading or buffering the
// rest); a response write must progress within write_timeout. Over
// max_connections open connections, a new one gets 503 overloaded and is
// closed. While a request is being handled the connection keeps reading, so a
// client that disconnects is seen at once and its exchange is told
// (Exchange::ClientGone, which cancels the job).
//
// Beast stays inside server.cc: the rest of the front sees Request, Exchange
// and ResponseSink only (exchange.h).
//
// Thread-safety: none; call everything on the io_context's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/error.h"
#include "front/limits.h"
#include "front/router.h"

namespace boost::asio {
class io_context;
}

namespace vigil::front {

class Server {
 public:
  // REQUIRES: router outlives the server.
  Server(boost::asio::io_context& io, Router& router, Limits limits);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. port 0 picks a free port. Returns the port.
  Result<uint16_t> Listen(const std::string& host, uint16_t port);
  // Stops accepting new connections (drain); open ones carry on.
  void StopAccepting();
  // Closes every connection now; their exchanges see ClientGone.
  void CloseAll();
  // The end of a drain: stops accepting, closes idle connections at once and
  // the others as soon as their response is written, then calls `done`
  // (after `bound` at the latest, closing what is left).
  void CloseWhenFlushed(std::chrono::milliseconds bound, std::function<void()> done);
  size_t open_connections() const;

  struct State;  // defined in server.cc; shared with the connections

 private:
  std::shared_ptr<State> state_;
};

}  // namespace vigil::front
