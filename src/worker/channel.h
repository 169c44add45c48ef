// channel.h: the worker's end of the socketpair to the supervisor.
//
// Writers: any thread (main, heartbeat, fault injection). Each frame is
// written whole under a mutex, so frames from several threads never
// interleave. A failed write means the supervisor is gone: the worker logs
// and exits with kExitProtocolError right there (there is nobody left to
// report to, and unwinding a busy engine buys nothing).
//
// Reader: exactly one thread calls Receive (blocking read + FrameDecoder).
//
// Close() (the close_protocol fault) shuts the socket down in both
// directions: the supervisor sees EOF, the blocked reader wakes with EOF,
// later sends are dropped silently. The descriptor number itself is kept
// open so a concurrent read() can never hit a reused fd.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string_view>

#include "common/error.h"
#include "protocol/frame.h"

namespace vigil::worker {

class Channel {
 public:
  explicit Channel(int fd) : fd_(fd) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Thread-safe. Returns false only when Close() was called before.
  bool Send(const protocol::Frame& frame);
  // Thread-safe. Raw bytes, for the garbage fault.
  bool SendRaw(std::string_view bytes);
  // Thread-safe, idempotent.
  void Close();
  bool closed() const { return closed_.load(); }

  // Reader thread only. The next frame; nullopt on EOF (or after Close);
  // an error if the supervisor sent a malformed frame or read() failed.
  Result<std::optional<protocol::Frame>> Receive();

 private:
  const int fd_;
  std::mutex write_mu_;
  std::atomic<bool> closed_{false};
  protocol::FrameDecoder decoder_;  // reader thread only
};

}  // namespace vigil::worker
