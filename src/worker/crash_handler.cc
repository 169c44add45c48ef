#include "worker/crash_handler.h"

#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "worker/sandbox.h"

namespace vigil::worker {
namespace {

const WorkerState* g_state = nullptr;
alignas(16) char g_alt_stack[64 * 1024];

const char* SignalName(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGSYS: return "SIGSYS";
  }
  return "?";
}

// Async-signal-safe append helpers over a fixed buffer.
struct Line {
  char buf[256];
  size_t len = 0;
  void Put(const char* s) {
    while (*s && len < sizeof buf) buf[len++] = *s++;
  }
  void Put(uint64_t v) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (n > 0 && len < sizeof buf) buf[len++] = digits[--n];
  }
};

// The one place a vigil process writes to stderr past common/log.h: a signal
// handler may only make async-signal-safe calls, and the logger (spdlog)
// allocates and takes a lock; a crash inside it, or with its lock held, would
// deadlock here. So the line is built in a fixed buffer and written with one
// write(2), which is async-signal-safe.
void OnFatalSignal(int sig, siginfo_t* info, void*) {
  Line line;
  if (sig == SIGSYS && info && info->si_code == SYS_SECCOMP) {
    // The seccomp filter trapped a forbidden call (sandbox.h): name it. The
    // supervisor reads this line for the crash report's cause.
    line.Put("vigil-worker: sandbox violation: ");
    line.Put(TrappedSyscallName(info->si_syscall));
    line.Put(" (syscall ");
    line.Put(static_cast<uint64_t>(info->si_syscall));
    line.Put(")\n");
    (void)!::write(STDERR_FILENO, line.buf, line.len);
    line.len = 0;
  }
  line.Put("vigil-worker: fatal signal ");
  line.Put(static_cast<uint64_t>(sig));
  line.Put(" (");
  line.Put(SignalName(sig));
  line.Put(") in phase ");
  line.Put(g_state ? PhaseName(g_state->phase.load()) : "unknown");
  line.Put(" job ");
  line.Put(g_state ? g_state->job_id.load() : 0);
  // kill() from another process (si_code <= 0): not a fault of this worker.
  if (info && info->si_code <= 0 && info->si_pid != ::getpid()) {
    line.Put(" (sent by pid ");
    line.Put(static_cast<uint64_t>(info->si_pid));
    line.Put(")");
  }
  line.Put("\n");
  (void)!::write(STDERR_FILENO, line.buf, line.len);
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  // SA_RESETHAND restored the default action. A signal the kernel raised for
  // a faulting instruction recurs on return; raise() covers abort() and
  // kill(): it stays pending while this handler runs and kills on return.
  ::raise(sig);
}

}  // namespace

void InstallCrashHandler(const WorkerState* state) {
  g_state = state;
  // backtrace() loads libgcc on first use, which allocates: do it now, not
  // inside the handler.
  void* warm[1];
  (void)::backtrace(warm, 1);

  stack_t ss{};
  ss.ss_sp = g_alt_stack;
  ss.ss_size = sizeof g_alt_stack;
  ::sigaltstack(&ss, nullptr);

  struct sigaction sa {};
  sa.sa_sigaction = OnFatalSignal;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND | SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace vigil::worker
