#include "protocol/frame.h"

#include <stdexcept>

namespace vigil::protocol {
namespace {

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

bool KnownType(uint8_t t) {
  return t >= static_cast<uint8_t>(MessageType::kHello) &&
         t <= static_cast<uint8_t>(MessageType::kShutdown);
}

Error Malformed(std::string what) {
  return MakeError(ErrorCode::kInternal, "malformed frame: " + std::move(what));
}

}  // namespace

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kHello: return "hello";
    case MessageType::kLoaded: return "loaded";
    case MessageType::kJob: return "job";
    case MessageType::kCancel: return "cancel";
    case MessageType::kProgress: return "progress";
    case MessageType::kPiece: return "piece";
    case MessageType::kDone: return "done";
    case MessageType::kFailed: return "failed";
    case MessageType::kHeartbeat: return "heartbeat";
    case MessageType::kShutdown: return "shutdown";
  }
  return "unknown";
}

std::string EncodeFrame(const Frame& frame) {
  if (!frame.header.is_object()) throw std::length_error("frame header must be an object");
  const std::string header = frame.header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (header.size() > kMaxHeaderBytes) throw std::length_error("frame header too large");
  if (frame.payload.size() > kMaxPayloadBytes) throw std::length_error("frame payload too large");
  const uint32_t body = static_cast<uint32_t>(1 + 4 + header.size() + frame.payload.size());
  std::string out;
  out.reserve(4 + body);
  PutU32(out, body);
  out.push_back(static_cast<char>(frame.type));
  PutU32(out, static_cast<uint32_t>(header.size()));
  out += header;
  out += frame.payload;
  return out;
}

void FrameDecoder::Feed(std::string_view bytes) {
  if (poisoned_) return;
  // Compact lazily so a long stream of small frames stays O(n).
  if (offset_ > 0 && offset_ >= buffer_.size() / 2) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

Result<std::optional<Frame>> FrameDecoder::Next() {
  if (poisoned_) return *poisoned_;
  const size_t avail = buffer_.size() - offset_;
  if (avail < 4) return std::optional<Frame>{};
  const char* p = buffer_.data() + offset_;
  const uint32_t body = GetU32(p);
  auto fail = [&](std::string what) -> Result<std::optional<Frame>> {
    poisoned_ = Malformed(std::move(what));
    return *poisoned_;
  };
  if (body < 1 + 4 + 2 || body > kMaxFrameBytes) return fail("body length " + std::to_string(body));
  // The type is checked as soon as it arrives, before waiting for the body:
  // a garbage stream is detected after 5 bytes, not after 100 MB.
  if (avail >= 5 && !KnownType(static_cast<uint8_t>(p[4]))) {
    return fail("unknown type " + std::to_string(static_cast<unsigned char>(p[4])));
  }
  if (avail >= 9) {
    const uint32_t hlen = GetU32(p + 5);
    if (hlen < 2 || hlen > kMaxHeaderBytes || hlen > body - 5) {
      return fail("header length " + std::to_string(hlen));
    }
  }
  if (avail < 4 + static_cast<size_t>(body)) return std::optional<Frame>{};

  Frame frame;
  frame.type = static_cast<MessageType>(p[4]);
  const uint32_t hlen = GetU32(p + 5);
  std::string_view header(p + 9, hlen);
  frame.header = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (frame.header.is_discarded() || !frame.header.is_object()) return fail("header is not a JSON object");
  frame.payload.assign(p + 9 + hlen, body - 5 - hlen);
  offset_ += 4 + static_cast<size_t>(body);
  return std::optional<Frame>(std::move(frame));
}

}  // namespace vigil::protocol
