// memory_cgroup.h: a cgroup v2 memory limit for each worker, where vigil may
// create cgroups. The supervisor does this; no model code is involved.
//
// Why a cgroup when there is RLIMIT_AS: RLIMIT_AS caps address space, which
// GPU drivers and allocators reserve far beyond what they touch (so it stays
// off for GPU workers); memory.max caps the memory charged to the worker
// (resident pages, page cache), and a kernel OOM kill inside the cgroup is
// counted in its memory.events, so the supervisor can name the cause.
//
// WorkerCgroups::Create(own_dir) takes the supervisor's own cgroup directory
// (OwnCgroupDir finds it) and makes <own>/vigil-<pid>/ with the memory
// controller enabled for its children. cgroup v2 forbids enabling a
// controller below a cgroup that holds processes ("no internal processes"):
// when the own cgroup refuses with EBUSY and the supervisor is its only
// process (a systemd unit with Delegate=yes, a container with its own cgroup
// namespace), the supervisor first moves itself into <base>/supervisor. Any
// other obstacle (no cgroup2 mount, no memory controller, no permission,
// other processes in the own cgroup) is an error that names it; the caller
// then falls back to RLIMIT_AS.
//
// Per worker: MakeWorkerCgroup(name, bytes) makes <base>/<name> with
// memory.max = bytes and memory.swap.max = 0 (the limit is not stretched by
// swap) and opens its cgroup.procs; MoveInto writes the new worker's pid
// there. After the worker is reaped, ReadOomEvents() reads the
// evidence and RemoveCgroup() deletes the directory.
//
// Paths are parameters, so the tests run against a fake directory tree.
// Thread-safety: none; the event-loop thread owns it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/unique_fd.h"

namespace vigil::supervisor {

// The directory of this process's cgroup v2 from the text of
// /proc/self/mountinfo (the cgroup2 mount point) and /proc/self/cgroup (the
// "0::/path" line). Errors (kInternal; they never reach a client, they are
// the reason in the start log): no cgroup2 mount, or no v2 line.
Result<std::string> OwnCgroupDir(std::string_view mountinfo, std::string_view self_cgroup);

// What memory.events says about OOM in a worker's cgroup.
struct OomEvents {
  int64_t oom_kill = 0;   // processes the kernel's OOM killer ended in the cgroup
  std::string evidence;   // "memory.events: max 3 oom 1 oom_kill 1; memory.peak 402 MiB"
};

class WorkerCgroups {
 public:
  // REQUIRES: own_dir is this process's cgroup (OwnCgroupDir); self is getpid().
  static Result<std::shared_ptr<WorkerCgroups>> Create(const std::string& own_dir, pid_t self);
  // Reads /proc/self/{mountinfo,cgroup} and calls Create.
  static Result<std::shared_ptr<WorkerCgroups>> CreateForThisProcess();
  ~WorkerCgroups();  // removes the base directory when it is empty
  WorkerCgroups(const WorkerCgroups&) = delete;
  WorkerCgroups& operator=(const WorkerCgroups&) = delete;

  const std::string& base() const { return base_; }
  bool moved_supervisor() const { return moved_supervisor_; }

  struct Worker {
    std::string dir;
    UniqueFd procs;  // <dir>/cgroup.procs, open for writing
  };
  // Errors (kInternal): the directory or a limit file could not be written.
  Result<Worker> MakeWorkerCgroup(const std::string& name, int64_t max_bytes) const;
  // Moves a process into the worker's cgroup (its pid into cgroup.procs).
  // Call right after fork, before the worker has loaded anything: memory
  // charged before the move stays with the old cgroup. Errors: kInternal.
  static Status MoveInto(const Worker& worker, pid_t pid);

  static OomEvents ReadOomEvents(const std::string& dir);
  // Best effort: a cgroup with a process left in it stays (EBUSY).
  static void RemoveCgroup(const std::string& dir);

 private:
  explicit WorkerCgroups(std::string base) : base_(std::move(base)) {}
  std::string base_;
  bool moved_supervisor_ = false;
};

}  // namespace vigil::supervisor
