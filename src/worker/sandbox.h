// sandbox.h: least privilege for a worker, applied by the worker to itself
// before it touches a model or an image.
//
// A worker parses hostile bytes (images) with native code; if one is ever
// compromised it should gain nothing. Measures, each best effort (a measure
// the platform refuses is reported as off, never fatal):
//   - no_new_privs: execve can never raise privileges again;
//   - RLIMIT_CORE 0: a crash writes no core file full of user images;
//   - RLIMIT_NOFILE: a small descriptor budget;
//   - RLIMIT_AS: an address-space cap when the supervisor asks for one
//     (an out-of-memory worker then fails fast instead of swapping the host);
//   - network: a fresh, empty network namespace (unshare(CLONE_NEWNET));
//     where that is not permitted, a seccomp filter that makes socket() fail
//     with EPERM for every family but AF_UNIX.
// Thread-safety: call once, from main, before any other thread starts
// (seccomp filters apply to the calling thread and its future children).
#pragma once

#include <cstdint>
#include <string>

namespace vigil::worker {

struct SandboxOptions {
  int64_t memory_limit_mb = 0;  // 0: no address-space cap
  int max_open_files = 256;
};

// Applies the measures; returns a one-line report of which are active,
// e.g. "no_new_privs=on core=0 nofile=256 as=off net=netns".
std::string ApplySandbox(const SandboxOptions& options);

}  // namespace vigil::worker
