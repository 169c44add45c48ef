#include "cli/analyze.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/http_client.h"
#include "front/base64.h"

namespace vigil::cli {
namespace {

using nlohmann::json;

// One clear sentence per error type; the server's message adds the details.
std::string Explain(const std::string& type, const std::string& message, int attempts) {
  std::string lead;
  if (type == "worker_crashed") {
    lead = "the model crashed on this input" + (attempts > 1 ? " " + std::to_string(attempts) + " times" : "");
  } else if (type == "input_quarantined") {
    lead = "this input crashed the model before and is quarantined";
  } else if (type == "overloaded") {
    lead = "the server is overloaded; try again shortly";
  } else if (type == "not_ready") {
    lead = "the server has no worker ready";
  } else if (type == "out_of_memory") {
    lead = "the model does not fit the server's GPU (or host) memory";
  } else if (type == "timeout") {
    lead = "the request timed out";
  } else if (type == "unauthorized") {
    lead = "the server wants an API key (--api-key)";
  } else {
    lead = type;
  }
  return "vigil analyze: " + lead + (message.empty() ? "" : ": " + message);
}

std::string Body(const AnalyzeOptions& opts, const std::string& image) {
  json body = {{"image", front::EncodeBase64(image)}, {"prompt", opts.prompt}, {"stream", true}};
  if (opts.max_tokens > 0) body["max_tokens"] = opts.max_tokens;
  if (opts.temperature >= 0) body["temperature"] = opts.temperature;
  if (opts.timeout_s > 0) body["timeout"] = opts.timeout_s;
  return body.dump();
}

}  // namespace

int ExitCodeFor(std::string_view type) {
  for (const auto& e : kExitCodes) {
    if (e.type == type && !type.empty()) return e.code;
  }
  if (type == "not_found" || type == "method_not_allowed" || type == "header_too_large") return 10;
  return 24;
}

std::string ExitCodeTable() {
  std::string out = "Exit codes:\n";
  for (const auto& e : kExitCodes) {
    char line[160];
    std::snprintf(line, sizeof line, "  %3d  %-25s %s\n", e.code, e.code == 0 ? "ok" : std::string(e.type).c_str(),
                  std::string(e.meaning).c_str());
    out += line;
  }
  return out;
}

AnalyzeResult AnalyzeOnce(const AnalyzeOptions& opts, const std::string& image,
                          const std::function<void(std::string_view)>& on_text,
                          const std::function<void(const json&)>& on_progress) {
  AnalyzeResult r;
  auto url = ParseUrl(opts.server);
  if (!url.ok()) return {2, "", nullptr, "vigil analyze: " + url.error().message};
  HttpCall call{"POST", "/analyze", {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}},
                Body(opts, image)};
  if (!opts.api_key.empty()) call.headers.emplace_back("Authorization", "Bearer " + opts.api_key);
  int status = 0;
  std::string plain;  // a non-SSE (error) body
  bool sse = false, terminal = false;
  SseSplitter splitter;
  auto on_event = [&](std::string_view data) {
    json ev = json::parse(data, nullptr, false);
    if (!ev.is_object()) return;
    if (ev.contains("text") && ev["text"].is_string()) {
      r.text += ev["text"].get<std::string>();
      on_text(ev["text"].get<std::string>());
    } else if (ev.contains("progress")) {
      on_progress(ev["progress"]);
    } else if (ev.contains("done")) {
      r.done = ev;
      terminal = true;
    } else if (ev.contains("error") && ev["error"].is_object()) {
      const std::string type = ev["error"].value("type", "internal");
      r.exit_code = ExitCodeFor(type);
      r.error_line = Explain(type, ev["error"].value("message", ""), ev.value("attempts", 0));
      terminal = true;
    }
  };
  auto s = Fetch(
      *url, call,
      [&](const HttpHead& h) {
        status = h.status;
        sse = h.Header("content-type").starts_with("text/event-stream");
      },
      [&](std::string_view bytes) {
        if (sse) {
          splitter.Feed(bytes, on_event);
        } else {
          plain.append(bytes);
        }
      });
  if (!s.ok()) return {3, r.text, nullptr, "vigil analyze: " + s.error().message};
  if (!sse) {
    json body = json::parse(plain, nullptr, false);
    const bool typed = body.is_object() && body.contains("error") && body["error"].is_object();
    const std::string type = typed ? body["error"].value("type", "internal") : "internal";
    const std::string message = typed ? body["error"].value("message", "") : "HTTP " + std::to_string(status);
    return {ExitCodeFor(type), "", nullptr, Explain(type, message, 0)};
  }
  if (!terminal) return {3, r.text, nullptr, "vigil analyze: the stream ended without a final event"};
  return r;
}

int RunAnalyze(const AnalyzeOptions& opts) {
  std::ifstream in(opts.image_path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "vigil analyze: cannot read %s\n", opts.image_path.c_str());
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  bool progress_shown = false;
  AnalyzeResult r = AnalyzeOnce(
      opts, ss.str(),
      [&](std::string_view piece) {
        if (progress_shown) std::fputs("\r\033[K", stderr), progress_shown = false;
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      },
      [&](const json& p) {
        if (opts.quiet) return;
        std::fprintf(stderr, "\r\033[K[%s %lld/%lld]", p.value("phase", "").c_str(),
                     static_cast<long long>(p.value("done", 0)), static_cast<long long>(p.value("total", 0)));
        progress_shown = true;
      });
  if (progress_shown) std::fputs("\r\033[K", stderr);
  if (!r.text.empty()) std::fputs("\n", stdout);
  if (r.exit_code != 0) std::fprintf(stderr, "%s\n", r.error_line.c_str());
  return r.exit_code;
}

}  // namespace vigil::cli
