#include "worker/channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "protocol/messages.h"

namespace vigil::worker {

bool Channel::Send(const protocol::Frame& frame) {
  return SendRaw(protocol::EncodeFrame(frame));
}

bool Channel::SendRaw(std::string_view bytes) {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (closed_) return false;
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (closed_) return false;
      LogError("worker_quit", {{"why", std::string("write to supervisor failed: ") + std::strerror(errno)}});
      ::_exit(protocol::kExitProtocolError);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void Channel::Close() {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (closed_.exchange(true)) return;
  // shutdown() rather than close(): see the header. A pipe (ENOTSOCK) has no
  // shutdown; then close() is the only way to signal EOF.
  if (::shutdown(fd_, SHUT_RDWR) != 0 && errno == ENOTSOCK) ::close(fd_);
}

Result<std::optional<protocol::Frame>> Channel::Receive() {
  char buf[64 * 1024];
  for (;;) {
    Result<std::optional<protocol::Frame>> next = decoder_.Next();
    if (!next || next->has_value()) return next;
    if (closed_) return std::optional<protocol::Frame>{};
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (closed_) return std::optional<protocol::Frame>{};
      return MakeError(ErrorCode::kInternal, std::string("read failed: ") + std::strerror(errno));
    }
    if (n == 0) return std::optional<protocol::Frame>{};
    decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

}  // namespace vigil::worker
