#include "worker/fault.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>

namespace vigil::worker {
namespace {

[[noreturn]] void Segfault() {
  // Through a volatile address so the compiler cannot prove it null and
  // replace the store with a trap instruction (that would be SIGILL).
  volatile uintptr_t address = 16;
  *reinterpret_cast<volatile int*>(address) = 1;
  std::abort();  // unreachable unless page 0 is mapped
}

[[noreturn]] void HangBusy() {
  volatile uint64_t spins = 0;  // volatile: an empty loop would be UB
  for (;;) spins = spins + 1;
}

[[noreturn]] void HangSyscall() {
  int fds[2];
  if (::pipe(fds) != 0) HangBusy();
  char c;
  for (;;) (void)::read(fds[0], &c, 1);  // the write end stays open: never ready
}

[[noreturn]] void Oom() {
  constexpr size_t kChunk = 64u << 20;
  for (;;) {
    char* p = static_cast<char*>(std::malloc(kChunk));
    if (!p) {
      std::fputs("vigil-worker: out of memory (fault oom)\n", stderr);
      std::abort();  // what an allocation failure in C++ ends in: terminate
    }
    std::memset(p, 0xA5, kChunk);
    // Keep the optimiser from eliding the unused allocation.
    asm volatile("" : : "r"(p) : "memory");
  }
}

void Garbage(Channel& channel) {
  // Starts with a body length of 0xFFFFFFFF so the supervisor's decoder
  // rejects it at the first 4 bytes, whatever the random tail holds.
  std::string bytes = "\xFF\xFF\xFF\xFFvigil-worker garbage ";
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < 64; ++i) bytes.push_back(static_cast<char>(rng() & 0xFF));
  channel.SendRaw(bytes);
}

[[noreturn]] void CloseProtocol(Channel& channel) {
  channel.Close();
  for (;;) ::pause();
}

}  // namespace

std::optional<FaultKind> ParseFaultKind(std::string_view name) {
  if (name == "segfault") return FaultKind::kSegfault;
  if (name == "abort") return FaultKind::kAbort;
  if (name == "hang_busy") return FaultKind::kHangBusy;
  if (name == "hang_syscall") return FaultKind::kHangSyscall;
  if (name == "exit") return FaultKind::kExit;
  if (name == "oom") return FaultKind::kOom;
  if (name == "garbage") return FaultKind::kGarbage;
  if (name == "close_protocol") return FaultKind::kCloseProtocol;
  return std::nullopt;
}

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kSegfault: return "segfault";
    case FaultKind::kAbort: return "abort";
    case FaultKind::kHangBusy: return "hang_busy";
    case FaultKind::kHangSyscall: return "hang_syscall";
    case FaultKind::kExit: return "exit";
    case FaultKind::kOom: return "oom";
    case FaultKind::kGarbage: return "garbage";
    case FaultKind::kCloseProtocol: return "close_protocol";
  }
  return "unknown";
}

void TriggerFault(FaultKind kind, int exit_code, Channel& channel) {
  std::fprintf(stderr, "vigil-worker: injecting fault %s\n", FaultKindName(kind));
  std::fflush(stderr);
  switch (kind) {
    case FaultKind::kSegfault: Segfault();
    case FaultKind::kAbort: std::abort();
    case FaultKind::kHangBusy: HangBusy();
    case FaultKind::kHangSyscall: HangSyscall();
    case FaultKind::kExit: ::_exit(exit_code);
    case FaultKind::kOom: Oom();
    case FaultKind::kGarbage: Garbage(channel); return;
    case FaultKind::kCloseProtocol: CloseProtocol(channel);
  }
}

}  // namespace vigil::worker
