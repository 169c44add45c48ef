// frame.h: the byte layer of the worker protocol (docs/protocol.md).
//
// A frame on the wire:
//   u32 little-endian  body_length   (1 .. kMaxFrameBytes)
//   body:
//     u8               type          (MessageType; unknown values are errors)
//     u32 little-endian header_length (2 .. kMaxHeaderBytes)
//     header_length bytes             a UTF-8 JSON object
//     the rest                        payload: opaque bytes (image data)
//
// FrameDecoder is incremental: feed it whatever read() returned, then pull
// frames. Any malformed input poisons the decoder for good: the peer that
// sent it is broken and must be dropped, never resynchronised.
//
// Thread-safety: none; one decoder per connection, used by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace vigil::protocol {

// Version 2 adds `capacity` to `loaded`: a worker may run that many jobs at
// once. A supervisor speaking 2 also serves version-1 workers (capacity 1).
inline constexpr int kProtocolVersion = 2;
inline constexpr int kMinProtocolVersion = 1;
inline constexpr uint32_t kMaxHeaderBytes = 1u << 20;            // 1 MiB
inline constexpr uint32_t kMaxPayloadBytes = 128u << 20;         // 128 MiB
inline constexpr uint32_t kMaxFrameBytes = 1 + 4 + kMaxHeaderBytes + kMaxPayloadBytes;

enum class MessageType : uint8_t {
  kHello = 1,      // worker -> supervisor, first frame: version, engine
  kLoaded = 2,     // worker -> supervisor: model loaded, facts, load time
  kJob = 3,        // supervisor -> worker: one unit of work (payload: image)
  kCancel = 4,     // supervisor -> worker: stop a job
  kProgress = 5,   // worker -> supervisor: image decode/encode, prefill
  kPiece = 6,      // worker -> supervisor: a piece of generated text
  kDone = 7,       // worker -> supervisor: terminal success of a job
  kFailed = 8,     // worker -> supervisor: terminal typed error of a job
  kHeartbeat = 9,  // worker -> supervisor: phase + progress counter
  kShutdown = 10,  // supervisor -> worker: finish and exit 0
};
std::string_view MessageTypeName(MessageType type);

struct Frame {
  MessageType type = MessageType::kHello;
  nlohmann::json header = nlohmann::json::object();
  std::string payload;
};

// Serialises a frame. REQUIRES: header is an object; sizes within limits
// (violations are programming errors and throw std::length_error).
std::string EncodeFrame(const Frame& frame);

class FrameDecoder {
 public:
  // Appends bytes read from the peer.
  void Feed(std::string_view bytes);
  // Returns the next complete frame, nullopt if more bytes are needed, or an
  // error if the stream is malformed (and every later call returns it too).
  Result<std::optional<Frame>> Next();
  // Bytes buffered but not yet returned as frames.
  size_t buffered() const { return buffer_.size() - offset_; }

 private:
  std::string buffer_;
  size_t offset_ = 0;
  std::optional<Error> poisoned_;
};

}  // namespace vigil::protocol
