// The CLI's only Beast translation unit (see http_client.h).
#include "cli/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "front/text.h"

namespace vigil::cli {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

Result<Url> ParseUrl(std::string_view url) {
  if (!url.starts_with("http://")) return MakeError(ErrorCode::kInvalidRequest, "the server URL must start with http://");
  url.remove_prefix(7);
  url = url.substr(0, url.find('/'));
  Url out;
  std::string_view rest;
  if (url.starts_with("[")) {  // [v6 address]:port
    const size_t close = url.find(']');
    if (close == std::string_view::npos) return MakeError(ErrorCode::kInvalidRequest, "bad IPv6 address in URL");
    out.host = std::string(url.substr(1, close - 1));
    rest = url.substr(close + 1);
  } else {
    const size_t colon = url.find(':');
    out.host = std::string(url.substr(0, colon));
    if (colon != std::string_view::npos) rest = url.substr(colon);
  }
  out.port = rest.starts_with(":") ? std::string(rest.substr(1)) : "80";
  if (out.host.empty()) return MakeError(ErrorCode::kInvalidRequest, "the server URL has no host");
  return out;
}

std::string HttpHead::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

Status Fetch(const Url& url, const HttpCall& call, const std::function<void(const HttpHead&)>& on_head,
             const std::function<void(std::string_view)>& on_body) {
  net::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  auto fail = [&](const std::string& what) {
    return MakeError(ErrorCode::kNotReady, what + " " + url.host + ":" + url.port + ": " + ec.message());
  };
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec) return fail("cannot resolve");
  stream.expires_after(call.timeout);
  stream.connect(endpoints, ec);
  if (ec) return fail("cannot connect to");

  http::request<http::string_body> req{http::string_to_verb(call.method), call.target, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::user_agent, "vigil-cli");
  for (const auto& [k, v] : call.headers) req.set(k, v);
  req.body() = call.body;
  req.prepare_payload();
  http::write(stream, req, ec);
  if (ec) return fail("cannot send the request to");

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  http::read_header(stream, buffer, parser, ec);
  if (ec) return fail("no answer from");
  HttpHead head;
  head.status = parser.get().result_int();
  for (const auto& f : parser.get()) head.headers.emplace_back(front::AsciiLower(f.name_string()), std::string(f.value()));
  on_head(head);
  // Hand out the body as it is parsed; string_body keeps what was read, so it
  // is drained after every read to keep memory flat on long streams.
  while (!parser.is_done()) {
    http::read_some(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return fail("connection lost with");
    auto& body = parser.get().body();
    if (!body.empty()) {
      on_body(body);
      body.clear();
    }
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return OkStatus();
}

Result<std::pair<HttpHead, std::string>> FetchAll(const Url& url, const HttpCall& call) {
  std::pair<HttpHead, std::string> out;
  auto s = Fetch(url, call, [&](const HttpHead& h) { out.first = h; },
                 [&](std::string_view b) { out.second.append(b); });
  if (!s.ok()) return s.error();
  return out;
}

void SseSplitter::Feed(std::string_view bytes, const std::function<void(std::string_view)>& on_data) {
  buffer_.append(bytes);
  size_t end;
  while ((end = buffer_.find("\n\n")) != std::string::npos) {
    std::string_view event(buffer_.data(), end);
    std::string data;
    while (!event.empty()) {
      const size_t nl = event.find('\n');
      std::string_view line = event.substr(0, nl);
      event = nl == std::string_view::npos ? std::string_view{} : event.substr(nl + 1);
      if (line.starts_with("data:")) {
        line.remove_prefix(5);
        if (line.starts_with(" ")) line.remove_prefix(1);
        if (!data.empty()) data += "\n";
        data += line;
      }
    }
    if (!data.empty()) on_data(data);
    buffer_.erase(0, end + 2);
  }
}

}  // namespace vigil::cli
