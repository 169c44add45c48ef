#include "front/base64.h"

#include <array>
#include <cstdint>

#include "front/text.h"

namespace vigil::front {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> MakeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[uint8_t(kAlphabet[i])] = int8_t(i);
  return t;
}
constexpr auto kTable = MakeTable();

}  // namespace

std::optional<std::string> DecodeBase64(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t sextets = 0, pad = 0;
  for (char ch : in) {
    if (ch == '\r' || ch == '\n') continue;
    if (ch == '=') { ++pad; continue; }
    if (pad > 0) return std::nullopt;  // data after padding
    const int8_t v = kTable[uint8_t(ch)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    ++sextets;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xff));
    }
  }
  const size_t rem = sextets % 4;
  if (rem == 1) return std::nullopt;
  if (pad > 0 && (rem == 0 || pad != 4 - rem)) return std::nullopt;
  // Canonical form: the bits left over must be zero.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string EncodeBase64(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Result<DataUri> ParseDataUri(std::string_view uri) {
  if (uri.size() < 5 || !IEquals(uri.substr(0, 5), "data:")) {
    return MakeError(ErrorCode::kInvalidRequest, "expected a data: URI");
  }
  const size_t comma = uri.find(',');
  if (comma == std::string_view::npos) return MakeError(ErrorCode::kInvalidRequest, "data URI without a comma");
  std::string_view meta = uri.substr(5, comma - 5);
  bool base64 = false;
  if (meta.size() >= 7 && IEquals(meta.substr(meta.size() - 7), ";base64")) {
    base64 = true;
    meta.remove_suffix(7);
  }
  if (!base64) return MakeError(ErrorCode::kInvalidRequest, "data URI must be ;base64-encoded");
  DataUri out;
  out.media_type = AsciiLower(meta.substr(0, meta.find(';')));
  auto data = DecodeBase64(uri.substr(comma + 1));
  if (!data) return MakeError(ErrorCode::kInvalidRequest, "data URI holds invalid base64");
  out.data = std::move(*data);
  return out;
}

Result<std::string> DecodeImageField(std::string_view field) {
  if (field.size() >= 5 && IEquals(field.substr(0, 5), "data:")) {
    auto uri = ParseDataUri(field);
    if (!uri.ok()) return uri.error();
    return std::move(uri->data);
  }
  auto data = DecodeBase64(field);
  if (!data) return MakeError(ErrorCode::kInvalidRequest, "\"image\" is not valid base64 (nor a data: URI)");
  return std::move(*data);
}

}  // namespace vigil::front
