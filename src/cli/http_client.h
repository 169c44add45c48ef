// http_client.h: a small blocking HTTP/1.1 client for the CLI (vigil
// analyze, vigil demo). One request per connection; the body is handed to
// on_body piece by piece as it arrives, so SSE streams print live.
//
// Errors: kNotReady when the server cannot be reached or the connection
// breaks (the caller maps this to "server unreachable"), kInvalidRequest for
// a bad URL. HTTP error statuses are not errors here: the caller reads them.
// Thread-safety: each call is independent.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace vigil::cli {

struct Url {
  std::string host;
  std::string port;
};
Result<Url> ParseUrl(std::string_view url);  // http://host[:port][/]

struct HttpHead {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string Header(std::string_view name) const;
};

struct HttpCall {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{600000};
};

// Calls on_head once, then on_body for each piece of the (de-chunked) body.
Status Fetch(const Url& url, const HttpCall& call, const std::function<void(const HttpHead&)>& on_head,
             const std::function<void(std::string_view)>& on_body);

// Convenience: whole body.
Result<std::pair<HttpHead, std::string>> FetchAll(const Url& url, const HttpCall& call);

// Splits an SSE byte stream into the payloads of its data: lines.
class SseSplitter {
 public:
  // Feeds bytes; calls on_data for each complete event's data.
  void Feed(std::string_view bytes, const std::function<void(std::string_view)>& on_data);

 private:
  std::string buffer_;
};

}  // namespace vigil::cli
