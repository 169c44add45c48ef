#include "worker/fault.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>

#include "common/log.h"

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

// The outcome of a forbidden action the sandbox did not kill for: denied
// (the call failed) or allowed. Either way the worker aborts, so the crash
// report carries this line.
[[noreturn]] void Verdict(const char* kind, const char* what, bool denied, int err) {
  nlohmann::json fields = {{"fault", kind}, {"action", what}};
  if (denied) fields["error"] = std::strerror(err);
  LogError(denied ? "forbidden_action_denied" : "forbidden_action_allowed", fields);
  std::abort();
}

[[noreturn]] void SandboxProbe(FaultKind kind) {
  switch (kind) {
    case FaultKind::kSandboxWrite: {
      const int fd = ::open(kSandboxProbePath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      Verdict("sandbox_write", "open(/tmp/vigil-sandbox-probe, O_WRONLY|O_CREAT)", fd < 0, errno);
    }
    case FaultKind::kSandboxExec: {
      ::execl("/bin/sh", "sh", "-c", "exit 0", static_cast<char*>(nullptr));
      Verdict("sandbox_exec", "execve(/bin/sh)", true, errno);
    }
    case FaultKind::kSandboxConnect: {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) Verdict("sandbox_connect", "socket(AF_INET)", true, errno);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(9);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      // ECONNREFUSED means the packet went out: the network was reachable.
      Verdict("sandbox_connect", "connect(127.0.0.1:9)", rc < 0 && errno != ECONNREFUSED, errno);
    }
    default: {
      const int fd = ::open(kForeignFilePath, O_RDONLY | O_CLOEXEC);
      Verdict("sandbox_read", "open(/root, O_RDONLY)", fd < 0, errno);
    }
  }
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
  if (name == "sandbox_write") return FaultKind::kSandboxWrite;
  if (name == "sandbox_exec") return FaultKind::kSandboxExec;
  if (name == "sandbox_connect") return FaultKind::kSandboxConnect;
  if (name == "sandbox_read") return FaultKind::kSandboxRead;
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
    case FaultKind::kSandboxWrite: return "sandbox_write";
    case FaultKind::kSandboxExec: return "sandbox_exec";
    case FaultKind::kSandboxConnect: return "sandbox_connect";
    case FaultKind::kSandboxRead: return "sandbox_read";
  }
  return "unknown";
}

void TriggerFault(FaultKind kind, int exit_code, Channel& channel) {
  LogWarn("fault_injected", {{"kind", FaultKindName(kind)}});
  switch (kind) {
    case FaultKind::kSegfault: Segfault();
    case FaultKind::kAbort: std::abort();
    case FaultKind::kHangBusy: HangBusy();
    case FaultKind::kHangSyscall: HangSyscall();
    case FaultKind::kExit: ::_exit(exit_code);
    case FaultKind::kOom: Oom();
    case FaultKind::kGarbage: Garbage(channel); return;
    case FaultKind::kCloseProtocol: CloseProtocol(channel);
    case FaultKind::kSandboxWrite:
    case FaultKind::kSandboxExec:
    case FaultKind::kSandboxConnect:
    case FaultKind::kSandboxRead: SandboxProbe(kind);
  }
}

}  // namespace vigil::worker
