// The seccomp filter of a loaded worker (sandbox.h, step 2), built with
// libseccomp. A deny list over a default of allow: serving runs ggml's CPU
// and GPU backends, whose drivers use a wide, version-dependent set of
// calls (ioctl, mmap, futex, sched_*, ...), while what a compromised worker
// would need to do harm is short and stable: start programs, reach the
// network, write files, inspect or enter other processes and namespaces.
//
// Two answers:
//   SCMP_ACT_TRAP: the call raises SIGSYS; the crash handler names the call
//     ("sandbox violation: execve") and the worker dies by SIGSYS, which the
//     supervisor reports as cause sandbox_violation;
//   SCMP_ACT_ERRNO: the call fails and the worker goes on, for calls that a
//     library may make innocently (a shader cache opening a file to write).
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "worker/sandbox.h"

namespace vigil::worker {
namespace {

// Killed: no serving path makes these calls.
const char* const kKilled[] = {
    "execve", "execveat",                                 // start a program
    "socket", "connect", "bind", "listen", "accept", "accept4",  // the network
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",  // other processes
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",    // namespaces, mounts
    "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "mount_setattr",
    "bpf", "perf_event_open", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "keyctl", "add_key", "request_key", "userfaultfd",
};

// Fail with EACCES: writes to the file system.
const char* const kDeniedWrites[] = {
    "creat", "truncate", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat",
    "rmdir", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmodat", "chown", "lchown",
    "fchownat", "mknod", "mknodat",
};

constexpr unsigned kWriteFlags[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND};

// Numbers of the trapped calls, resolved before the filter is loaded, so
// the SIGSYS handler can name a call without allocating.
struct Trapped {
  int nr;
  const char* name;
};
Trapped g_trapped[64];
int g_trapped_count = 0;

int Add(scmp_filter_ctx ctx, uint32_t action, const char* name) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return 0;  // not on this architecture
  if (action == SCMP_ACT_TRAP && g_trapped_count < 64) g_trapped[g_trapped_count++] = {nr, name};
  return seccomp_rule_add(ctx, action, nr, 0);
}

int AddRules(scmp_filter_ctx ctx) {
  for (const char* name : kKilled) {
    if (int rc = Add(ctx, SCMP_ACT_TRAP, name); rc < 0) return rc;
  }
  for (const char* name : kDeniedWrites) {
    if (int rc = Add(ctx, SCMP_ACT_ERRNO(EACCES), name); rc < 0) return rc;
  }
  // open(path, flags) and openat(dir, path, flags): any write flag -> EACCES.
  for (unsigned flag : kWriteFlags) {
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
                                       SCMP_A2(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc < 0) return rc;
  }
  // openat2 and clone3 pass their flags in memory a filter cannot read.
  // ENOSYS makes glibc fall back to openat and clone, which it can.
  if (int rc = Add(ctx, SCMP_ACT_ERRNO(ENOSYS), "openat2"); rc < 0) return rc;
  if (int rc = Add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3"); rc < 0) return rc;
  // clone with a namespace flag: a new namespace (threads and fork pass none).
  constexpr unsigned kNewNamespace = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                     CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
  for (unsigned flag = 1; flag != 0; flag <<= 1) {
    if (!(kNewNamespace & flag)) continue;
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)); rc < 0) {
      return rc;
    }
  }
  return 0;
}

}  // namespace

const char* TrappedSyscallName(int nr) {
  for (int i = 0; i < g_trapped_count; ++i) {
    if (g_trapped[i].nr == nr) return g_trapped[i].name;
  }
  return nr == SCMP_SYS(clone) ? "clone (new namespace)" : "unknown";
}

std::string ApplySeccomp() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return "seccomp=off(seccomp_init failed)";
  // Every thread, not just this one: the engine's threads run decoded data.
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  // A call through another ABI (i386 int 0x80) would dodge the numbers above.
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0) rc = AddRules(ctx);
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc < 0) return std::string("seccomp=off(") + std::strerror(-rc) + ")";
  return "seccomp=on";
}

}  // namespace vigil::worker
