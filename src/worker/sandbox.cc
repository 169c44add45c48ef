#include "worker/sandbox.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstddef>

namespace vigil::worker {
namespace {

bool SetLimit(int resource, rlim_t value) {
  struct rlimit lim {};
  if (::getrlimit(resource, &lim) != 0) return false;
  // Never raise: only lower the soft and hard limits.
  if (lim.rlim_max != RLIM_INFINITY && value > lim.rlim_max) value = lim.rlim_max;
  lim.rlim_cur = value;
  lim.rlim_max = value;
  return ::setrlimit(resource, &lim) == 0;
}

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
constexpr uint32_t kAuditArch = 0;
#endif

// Hand-written BPF because libseccomp is one more native dependency for a
// dozen-instruction filter: socket(domain != AF_UNIX) -> EPERM, all else allowed.
// A foreign architecture's syscall numbers would not match ours, so calls
// from any other ABI are refused outright.
bool DenyNetworkSockets() {
  if (kAuditArch == 0) return false;
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      // x32 calls share x86-64's audit arch but set bit 30 of the number.
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog {
    static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter
  };
  return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

}  // namespace

std::string ApplySandbox(const SandboxOptions& options) {
  std::string report;
  const bool nnp = ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0;
  report += nnp ? "no_new_privs=on" : "no_new_privs=off";
  report += SetLimit(RLIMIT_CORE, 0) ? " core=0" : " core=unchanged";
  report += SetLimit(RLIMIT_NOFILE, static_cast<rlim_t>(options.max_open_files))
                ? " nofile=" + std::to_string(options.max_open_files)
                : " nofile=unchanged";
  if (options.memory_limit_mb > 0) {
    const auto bytes = static_cast<rlim_t>(options.memory_limit_mb) << 20;
    report += SetLimit(RLIMIT_AS, bytes) ? " as=" + std::to_string(options.memory_limit_mb) + "MiB"
                                         : " as=refused";
  } else {
    report += " as=off";
  }
  // A new network namespace needs CAP_SYS_ADMIN (or an unprivileged user
  // namespace); the seccomp filter needs only no_new_privs.
  if (::unshare(CLONE_NEWNET) == 0) {
    report += " net=netns";
  } else if (nnp && DenyNetworkSockets()) {
    report += " net=seccomp";
  } else {
    report += " net=open";
  }
  return report;
}

}  // namespace vigil::worker
