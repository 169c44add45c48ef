// The only Beast translation unit of the server (see server.h).
#include "front/server.h"

#include <array>
#include <cctype>
#include <optional>
#include <set>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "front/text.h"

namespace vigil::front {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

class Connection;

struct Server::State {
  State(net::io_context& io_in, Router& router_in, Limits limits_in)
      : io(io_in), router(router_in), limits(limits_in), acceptor(io_in) {}
  net::io_context& io;
  Router& router;
  Limits limits;
  tcp::acceptor acceptor;
  std::set<Connection*> connections;
  uint64_t next_request = 1;
  bool closing = false;  // CloseWhenFlushed: no keep-alive from now on
};

namespace {

// The phases of a connection:
//
//   kHeader --header--> kBody --body--> kHandling --response written--> kIdle
//      ^                                                                  |
//      +------------------- first byte of the next request --------------+
//   any phase --error, timeout, Connection: close--> kLingering --> kClosed
enum class Phase { kHeader, kBody, kHandling, kIdle, kLingering, kClosed };

bool SafeRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace

class Connection : public ResponseSink, public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<Server::State> state)
      : socket_(std::move(socket)), timer_(state->io), state_(std::move(state)) {
    state_->connections.insert(this);
    state_->router.context().metrics.ConnectionOpened();
  }
  ~Connection() override {
    state_->connections.erase(this);
    state_->router.context().metrics.ConnectionClosed();
  }

  void Start() {
    beast::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);  // SSE pieces go out at once
    ReadHeader();
  }

  // CloseWhenFlushed: an idle connection closes now, a busy one after its
  // response (MaybeAdvance sees state_->closing).
  void CloseIfIdle() {
    if (phase_ == Phase::kIdle || phase_ == Phase::kHeader) Close();
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    if (auto ex = exchange_.lock()) ex->ClientGone();
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
  }

  void Write(std::string bytes) override {
    if (phase_ == Phase::kClosed) return;
    out_ += bytes;
    if (!writing_) DoWrite();
  }

  void Complete(bool keep_alive) override {
    complete_ = true;
    keep_alive_ = keep_alive;
    exchange_.reset();
    MaybeAdvance();
  }

 private:
  void Arm(std::chrono::milliseconds d) {
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), gen = ++timer_gen_](beast::error_code ec) {
      if (ec || gen != self->timer_gen_) return;
      self->Close();  // slow-loris, idle keep-alive or a reader that stopped reading
    });
  }
  void Disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  void ReadHeader() {
    phase_ = Phase::kHeader;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->limits.max_header_bytes));
    parser_->body_limit(state_->limits.max_body_bytes);
    Arm(state_->limits.header_timeout);
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return Fail(ec);
    const auto& msg = parser_->get();
    auto expect = msg.find(http::field::expect);
    if (expect != msg.end() && IEquals(expect->value(), "100-continue")) {
      Write("HTTP/1.1 100 Continue\r\n\r\n");
    }
    phase_ = Phase::kBody;
    Arm(state_->limits.body_timeout);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec2, size_t) { self->OnBody(ec2); });
  }

  // Read errors: limits get a typed answer, the rest just close.
  void Fail(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Reject(MakeError(ErrorCode::kPayloadTooLarge,
                              "request body over the limit of " + std::to_string(state_->limits.max_body_bytes) +
                                  " bytes"));
    }
    if (ec == http::error::header_limit) {
      return Reject(MakeError(ErrorCode::kHeaderTooLarge, "request header over the limit of " +
                                                               std::to_string(state_->limits.max_header_bytes) +
                                                               " bytes"));
    }
    if (ec.category() == beast::error_code(http::error::bad_target).category() && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return Reject(MakeError(ErrorCode::kInvalidRequest, "malformed HTTP request: " + ec.message()));
    }
    Close();
  }

  // Answers an error found while reading, then closes: the rest of the
  // request is never read.
  void Reject(const Error& error) {
    Request req = BaseRequest();
    req.keep_alive = false;
    auto ex = std::make_shared<Exchange>(std::move(req), shared_from_this(), state_->router.Hook());
    phase_ = Phase::kHandling;
    ex->RespondError(error, false);
  }

  Request BaseRequest() {
    Request req;
    req.request_id = "r" + std::to_string(state_->next_request++);
    if (!parser_ || !parser_->is_header_done()) return req;
    const auto& msg = parser_->get();
    req.method = std::string(msg.method_string());
    std::string_view target = msg.target();
    // Absolute-form ("http://host/path"), which servers must accept (RFC 9112 3.2.2).
    if (const size_t scheme = target.find("://"); scheme != std::string_view::npos && !target.starts_with("/")) {
      const size_t slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    const size_t q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
    for (const auto& field : msg) req.headers.emplace_back(AsciiLower(field.name_string()), std::string(field.value()));
    if (const std::string* id = req.Header("x-request-id"); id && SafeRequestId(*id)) req.request_id = *id;
    req.keep_alive = msg.keep_alive();
    return req;
  }

  void OnBody(beast::error_code ec) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return Fail(ec);
    Disarm();
    Request req = BaseRequest();
    req.body = std::move(parser_->get().body());
    parser_.reset();
    phase_ = Phase::kHandling;
    complete_ = false;
    auto ex = std::make_shared<Exchange>(std::move(req), shared_from_this(), state_->router.Hook());
    exchange_ = ex;
    if (!watching_ && buffer_.size() == 0) Watch();
    state_->router.Handle(ex);
  }

  // Keeps a read pending while the request is handled: its error means the
  // client left. Bytes that arrive are the next request; they stay in buffer_.
  void Watch() {
    watching_ = true;
    socket_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->watching_ = false;
      if (self->phase_ == Phase::kClosed) return;
      if (ec) return self->Close();
      self->buffer_.commit(n);
      if (self->phase_ == Phase::kIdle) self->ReadHeader();
    });
  }

  void DoWrite() {
    writing_ = true;
    wbuf_ = std::move(out_);
    out_.clear();
    if (phase_ == Phase::kHandling) Arm(state_->limits.write_timeout);
    net::async_write(socket_, net::buffer(wbuf_), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (self->phase_ == Phase::kClosed) return;
      if (ec) return self->Close();
      if (!self->out_.empty()) return self->DoWrite();
      if (self->phase_ == Phase::kHandling) self->Disarm();
      self->MaybeAdvance();
    });
  }

  void MaybeAdvance() {
    if (!complete_ || writing_ || !out_.empty() || phase_ != Phase::kHandling) return;
    complete_ = false;
    if (!keep_alive_ || state_->closing) return Linger();
    phase_ = Phase::kIdle;
    if (watching_) {
      Arm(state_->limits.idle_timeout);  // the watch read waits for the next request
    } else {
      ReadHeader();
    }
  }

  // Half-closes and discards what the client still sends for a moment, so it
  // reads our answer (e.g. 413) instead of a connection reset.
  void Linger() {
    phase_ = Phase::kLingering;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    Arm(std::chrono::milliseconds(1000));
    if (!watching_) Discard();
  }
  void Discard() {
    watching_ = true;
    socket_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->watching_ = false;
      if (self->phase_ == Phase::kClosed) return;
      if (ec) return self->Close();
      self->Discard();
    });
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  uint64_t timer_gen_ = 0;
  std::shared_ptr<Server::State> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kHeader;
  std::string out_, wbuf_;
  bool writing_ = false;
  bool watching_ = false;
  bool complete_ = false;
  bool keep_alive_ = false;
  std::weak_ptr<Exchange> exchange_;
  std::array<char, 16384> scratch_;
};

namespace {

void Accept(const std::shared_ptr<Server::State>& state) {
  state->acceptor.async_accept([state](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !state->acceptor.is_open()) return;
    if (!ec) {
      if (static_cast<int>(state->connections.size()) >= state->limits.max_connections) {
        state->router.context().metrics.ConnectionRejected();
        static const std::string kBusy = [] {
          const std::string body =
              "{\"error\":{\"type\":\"overloaded\",\"message\":\"too many open connections\",\"code\":503}}\n";
          return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                 "x-should-retry: true\r\nConnection: close\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body;
        }();
        auto s = std::make_shared<tcp::socket>(std::move(socket));
        net::async_write(*s, net::buffer(kBusy), [s](beast::error_code, size_t) {
          beast::error_code ignored;
          s->shutdown(tcp::socket::shutdown_both, ignored);
          s->close(ignored);
        });
      } else {
        std::make_shared<Connection>(std::move(socket), state)->Start();
      }
    }
    Accept(state);
  });
}

}  // namespace

Server::Server(net::io_context& io, Router& router, Limits limits)
    : state_(std::make_shared<State>(io, router, limits)) {}

Server::~Server() {
  StopAccepting();
  CloseAll();
}

Result<uint16_t> Server::Listen(const std::string& host, uint16_t port) {
  beast::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) return MakeError(ErrorCode::kInvalidRequest, "bad --host " + host + ": " + ec.message());
  const tcp::endpoint endpoint(address, port);
  auto& acc = state_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return MakeError(ErrorCode::kInternal, "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  Accept(state_);
  return acc.local_endpoint().port();
}

void Server::StopAccepting() {
  beast::error_code ec;
  state_->acceptor.close(ec);
}

namespace {

// The open connections, held: closing one removes it from the set.
std::vector<std::shared_ptr<Connection>> Snapshot(const Server::State& state) {
  std::vector<std::shared_ptr<Connection>> all;
  for (Connection* c : state.connections) {
    if (auto p = c->weak_from_this().lock()) all.push_back(std::move(p));
  }
  return all;
}

void CloseConnections(Server::State& state) {
  for (auto& c : Snapshot(state)) c->Close();
}

// Polls the connection set every 20 ms: connections leave it once their last
// response is written (a lingering one within a second).
void WhenNoConnections(std::shared_ptr<Server::State> state, std::shared_ptr<net::steady_timer> timer,
                       std::chrono::steady_clock::time_point deadline, std::function<void()> done) {
  if (state->connections.empty() || std::chrono::steady_clock::now() >= deadline) {
    CloseConnections(*state);
    return done();
  }
  timer->expires_after(std::chrono::milliseconds(20));
  timer->async_wait([state, timer, deadline, done = std::move(done)](beast::error_code) mutable {
    WhenNoConnections(std::move(state), std::move(timer), deadline, std::move(done));
  });
}

}  // namespace

void Server::CloseWhenFlushed(std::chrono::milliseconds bound, std::function<void()> done) {
  StopAccepting();
  state_->closing = true;
  for (auto& c : Snapshot(*state_)) c->CloseIfIdle();
  WhenNoConnections(state_, std::make_shared<net::steady_timer>(state_->io),
                    std::chrono::steady_clock::now() + bound, std::move(done));
}

void Server::CloseAll() { CloseConnections(*state_); }

size_t Server::open_connections() const { return state_->connections.size(); }

}  // namespace vigil::front
