// libFuzzer target: the worker protocol decoder (protocol/frame.h) and the
// message parsers behind it. Bytes are fed in two pieces to exercise the
// incremental path; a poisoned decoder must stay poisoned.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/messages.h"

using namespace vigil::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  FrameDecoder decoder;
  const size_t cut = size ? data[0] % (size + 1) : 0;
  decoder.Feed(in.substr(0, cut));
  bool poisoned = false;
  for (int round = 0; round < 2; ++round) {
    while (true) {
      auto next = decoder.Next();
      if (!next.ok()) {
        poisoned = true;
        break;
      }
      if (poisoned) __builtin_trap();
      if (!next->has_value()) break;
      Frame f = std::move(**next);
      (void)ParseHello(f), (void)ParseLoaded(f), (void)ParseProgress(f), (void)ParsePiece(f);
      (void)ParseDone(f), (void)ParseFailed(f), (void)ParseHeartbeat(f), (void)ParseCancel(f);
      (void)ParseJob(std::move(f));
    }
    if (round == 0) decoder.Feed(in.substr(cut));
  }
  return 0;
}
