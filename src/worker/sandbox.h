// sandbox.h: least privilege for a worker, applied by the worker to itself,
// in two steps, because loading needs files and serving does not.
//
// A worker parses hostile bytes (images) with native code, like a browser's
// renderer; if one is ever compromised it should gain nothing.
//
// 1. ApplySandbox, first thing in main (before any other thread starts):
//    - no_new_privs: execve can never raise privileges again;
//    - RLIMIT_CORE 0: a crash writes no core file full of user images;
//    - RLIMIT_NOFILE: a small descriptor budget;
//    - RLIMIT_AS: an address-space cap when asked for (--memory-limit-mb);
//    - network: a fresh, empty network namespace (unshare(CLONE_NEWNET)),
//      where permitted; step 2's seccomp filter refuses sockets anyway.
// 2. LockDown, after the model has loaded, before the first job:
//    - user: when running as root, every thread becomes `user` (setresuid
//      and setresgid, no supplementary groups); a uid change from 0 clears
//      every capability, and no_new_privs keeps it so;
//    - Landlock (landlock.cc), where the kernel has it: reads only of the
//      model files, the files already mapped (libraries) and a few /dev,
//      /proc and /sys paths; no writes, no execution, no TCP;
//    - seccomp (seccomp_policy.cc, libseccomp), on every thread: execve,
//      ptrace, new sockets, connect, namespace and mount calls kill the
//      worker with a report naming the call (crash_handler.h: SIGSYS);
//      opening a file for writing fails with EACCES.
//    Each measure is best effort: one the platform refuses is reported as
//    off in the returned line (the start log), never fatal, except a user
//    switch that was asked for and failed (the worker would run as root).
//
// Why Landlock only restricts some threads: landlock_restrict_self applies
// to the calling thread and the threads it creates later, and the engine's
// threads exist once the model is loaded. The untrusted bytes are decoded
// on the main thread, which is restricted; seccomp (TSYNC) covers all.
//
// What a GPU worker needs (docs/architecture.md, "Sandbox"): ioctl and mmap
// on the /dev nodes its driver opened at load stay allowed; a driver that
// opens a device node read-write lazily, after load, gets EACCES.
//
// Thread-safety: ApplySandbox once from main before other threads start;
// LockDown once, from the main thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace vigil::worker {

struct SandboxOptions {
  int64_t memory_limit_mb = 0;  // 0: no address-space cap
  int max_open_files = 256;
};

// Applies step 1; returns a one-line report of which measures are active,
// e.g. "no_new_privs=on core=0 nofile=256 as=off net=netns".
std::string ApplySandbox(const SandboxOptions& options);

struct LockdownOptions {
  std::string user;                       // name or uid; empty: stay who we are
  std::vector<std::string> read_paths;    // model files: readable after lock-down
  bool landlock = true;
  bool seccomp = true;
};

// Applies step 2; returns a report line, e.g.
// "user=nobody(65534) landlock=abi6 seccomp=on". Errors (kInvalidRequest):
// an unknown user, or a user switch that failed.
Result<std::string> LockDown(const LockdownOptions& options);

// The pieces, for LockDown and the self-test.
Result<std::string> SwitchUser(const std::string& user);  // "user=nobody(65534)" or "user=unchanged(...)"
std::string ApplyLandlock(const std::vector<std::string>& read_paths);  // "landlock=abi6" | "landlock=off(why)"
std::string ApplySeccomp();  // "seccomp=on" | "seccomp=off(why)"
// The name of a call the filter traps, for the SIGSYS handler.
// Async-signal-safe.
const char* TrappedSyscallName(int nr);

}  // namespace vigil::worker
