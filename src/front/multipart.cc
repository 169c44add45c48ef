#include "front/multipart.h"

#include "front/text.h"

namespace vigil::front {
namespace {

constexpr size_t kMaxPartHeaderBytes = 8 << 10;

Error Bad(const std::string& why) { return MakeError(ErrorCode::kInvalidRequest, "multipart body: " + why); }

// Reads a token or quoted-string starting at s[i]; advances i.
std::string ReadParamValue(std::string_view s, size_t& i) {
  std::string out;
  if (i < s.size() && s[i] == '"') {
    for (++i; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out.push_back(s[i]);
    }
    if (i < s.size()) ++i;  // closing quote
    return out;
  }
  while (i < s.size() && s[i] != ';') out.push_back(s[i++]);
  return std::string(Trim(out));
}

Status ParsePartHeaders(std::string_view headers, Part& part) {
  bool disposition = false;
  while (!headers.empty()) {
    const size_t eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view{} : headers.substr(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Bad("part header line without a colon");
    const std::string name = AsciiLower(Trim(line.substr(0, colon)));
    const auto params = SplitHeaderParams(line.substr(colon + 1));
    if (name == "content-disposition") {
      if (params.empty() || params[0].first != "form-data") return Bad("part is not form-data");
      disposition = true;
      for (size_t k = 1; k < params.size(); ++k) {
        if (params[k].first == "name") part.name = params[k].second;
        if (params[k].first == "filename") part.filename = params[k].second;
      }
    } else if (name == "content-type" && !params.empty()) {
      part.content_type = params[0].first;
    }
  }
  if (!disposition || part.name.empty()) return Bad("part without a Content-Disposition name");
  return OkStatus();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> SplitHeaderParams(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  const size_t semi = value.find(';');
  out.emplace_back(AsciiLower(Trim(value.substr(0, semi))), "");
  if (semi == std::string_view::npos) return out;
  i = semi + 1;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t' || value[i] == ';')) ++i;
    const size_t eq = value.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string name = AsciiLower(Trim(value.substr(i, eq - i)));
    i = eq + 1;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    std::string v = ReadParamValue(value, i);
    out.emplace_back(std::move(name), std::move(v));
    while (i < value.size() && value[i] != ';') ++i;
  }
  return out;
}

Result<std::string> MultipartBoundary(std::string_view content_type) {
  const auto params = SplitHeaderParams(content_type);
  if (params[0].first != "multipart/form-data") {
    return MakeError(ErrorCode::kInvalidRequest, "expected multipart/form-data");
  }
  for (size_t k = 1; k < params.size(); ++k) {
    if (params[k].first == "boundary") {
      const std::string& b = params[k].second;
      if (b.empty() || b.size() > 70) break;
      return b;
    }
  }
  return MakeError(ErrorCode::kInvalidRequest, "multipart/form-data without a valid boundary (1-70 chars)");
}

Result<std::vector<Part>> ParseMultipart(std::string_view body, std::string_view boundary, int max_parts) {
  const std::string dash = "--" + std::string(boundary);
  const std::string delim = "\r\n" + dash;
  // The first boundary may open the body or follow a preamble.
  size_t pos;
  if (body.starts_with(dash)) {
    pos = dash.size();
  } else {
    const size_t at = body.find(delim);
    if (at == std::string_view::npos) return Bad("no opening boundary");
    pos = at + delim.size();
  }
  std::vector<Part> parts;
  while (true) {
    // After a boundary: "--" closes the body, CRLF opens a part.
    if (body.substr(pos, 2) == "--") return parts;
    if (body.substr(pos, 2) != "\r\n") return Bad("malformed boundary line");
    pos += 2;
    if (static_cast<int>(parts.size()) >= max_parts) {
      return MakeError(ErrorCode::kPayloadTooLarge,
                       "multipart body has more than " + std::to_string(max_parts) + " parts (the limit)");
    }
    const size_t end_headers = body.find("\r\n\r\n", pos);
    const bool no_headers = body.substr(pos, 2) == "\r\n";
    if (!no_headers && (end_headers == std::string_view::npos || end_headers - pos > kMaxPartHeaderBytes)) {
      return Bad("part headers missing or over 8 KiB");
    }
    Part part;
    if (no_headers) return Bad("part without headers");
    if (auto s = ParsePartHeaders(body.substr(pos, end_headers - pos), part); !s.ok()) return s.error();
    pos = end_headers + 4;
    const size_t next = body.find(delim, pos);
    if (next == std::string_view::npos) return Bad("truncated (no closing boundary)");
    part.data = body.substr(pos, next - pos);
    parts.push_back(std::move(part));
    pos = next + delim.size();
  }
}

}  // namespace vigil::front
