// spawn.h: the one way vigil starts a child process (fork, then exec).
//
// Spawn forks and execs spec.argv (argv[0] is the path run; no PATH search)
// with exactly the descriptors spec.fds names at the numbers it names, plus
// 0-2 where spec.fds leaves them alone; every other descriptor is marked
// close-on-exec (close_range), so nothing the parent holds leaks into the
// child. Optional, in this order in the child: a parent-death signal (and
// _exit(127) if the parent already died before it was set), its own process
// group, default signal dispositions and an empty mask, RLIMIT_CORE 0,
// RLIMIT_AS, the caller's before_exec step. An exec failure exits the child
// with 127.
//
// Hand-written rather than posix_spawn: posix_spawn has no parent-death
// signal, no rlimits and no close_range, which the worker launcher needs.
//
// The child runs only async-signal-safe calls between fork and exec (no
// allocation: everything it needs is built before fork), so Spawn may be
// called from a multi-threaded process.
//
// Errors: kInternal naming the failing call and errno (fork).
// Thread-safety: reentrant. A parent-death signal fires when the *thread*
// that called Spawn exits: call it from a thread that lives as long as the
// child should.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace vigil {

struct SpawnSpec {
  std::vector<std::string> argv;           // argv[0]: the executable's path
  // {fd number in the child, our descriptor}. Our descriptors may be
  // close-on-exec; the child's copies are not.
  std::vector<std::pair<int, int>> fds;
  int parent_death_signal = 0;             // PR_SET_PDEATHSIG; 0: none
  bool own_process_group = false;          // setpgid(0, 0), also from the parent
  bool reset_signals = false;              // SIG_DFL everywhere (SIG_IGN survives exec), empty mask
  bool no_core = false;                    // RLIMIT_CORE 0
  int64_t address_space_limit = 0;         // RLIMIT_AS in bytes; 0: unchanged
  // Runs in the child last, with the descriptors in place, just before exec:
  // async-signal-safe calls only; it may _exit. For a step only one caller
  // needs (the worker launcher's hardening of external programs).
  void (*before_exec)(const void* context) = nullptr;
  const void* before_exec_context = nullptr;
};

// REQUIRES: spec.argv is not empty.
Result<pid_t> Spawn(const SpawnSpec& spec);

}  // namespace vigil
