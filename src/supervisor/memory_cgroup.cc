#include "supervisor/memory_cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace vigil::supervisor {
namespace {

Error Fail(std::string message) { return MakeError(ErrorCode::kInternal, std::move(message)); }
Error FailErrno(const std::string& what) { return Fail(what + ": " + std::strerror(errno)); }

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// cgroupfs files exist already; O_CREAT only matters in a fake tree.
bool WriteText(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  return fd.valid() && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

bool HasWord(const std::string& text, std::string_view word) {
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    if (w == word || (w.size() == word.size() + 1 && w[0] == '+' && w.substr(1) == word)) return true;
  }
  return false;
}

bool MakeDir(const std::string& dir) { return ::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST; }

// "+memory" into <dir>/cgroup.subtree_control unless it is there already.
bool EnableMemoryBelow(const std::string& dir) {
  if (HasWord(ReadText(dir + "/cgroup.subtree_control"), "memory")) return true;
  return WriteText(dir + "/cgroup.subtree_control", "+memory");
}

int64_t ReadKey(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  for (std::string k, v; in >> k >> v;) {
    if (k == key) return std::strtoll(v.c_str(), nullptr, 10);
  }
  return 0;
}

}  // namespace

Result<std::string> OwnCgroupDir(std::string_view mountinfo, std::string_view self_cgroup) {
  std::string path;
  std::istringstream cg{std::string(self_cgroup)};
  for (std::string line; std::getline(cg, line);) {
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  }
  if (path.empty()) return Fail("no cgroup v2 line in /proc/self/cgroup");
  std::istringstream mi{std::string(mountinfo)};
  for (std::string line; std::getline(mi, line);) {
    // "41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw"
    const auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, dev, root, mount_point;
    fields >> id >> parent >> dev >> root >> mount_point;
    if (root == "/") return path == "/" ? mount_point : mount_point + path;
    // A mount of a subtree (a container's view): the path must lie under it.
    if (path == root) return mount_point;
    if (path.rfind(root + "/", 0) == 0) return mount_point + path.substr(root.size());
  }
  return Fail("no cgroup2 file system mounted over this process's cgroup " + path);
}

Result<std::shared_ptr<WorkerCgroups>> WorkerCgroups::CreateForThisProcess() {
  Result<std::string> own = OwnCgroupDir(ReadText("/proc/self/mountinfo"), ReadText("/proc/self/cgroup"));
  if (!own) return own.error();
  return Create(*own, ::getpid());
}

Result<std::shared_ptr<WorkerCgroups>> WorkerCgroups::Create(const std::string& own_dir, pid_t self) {
  if (!HasWord(ReadText(own_dir + "/cgroup.controllers"), "memory")) {
    return Fail("the memory controller is not available in " + own_dir);
  }
  std::shared_ptr<WorkerCgroups> cgroups(new WorkerCgroups(own_dir + "/vigil-" + std::to_string(self)));
  if (!MakeDir(cgroups->base_)) return FailErrno("cannot create " + cgroups->base_);
  if (!EnableMemoryBelow(own_dir)) {
    // EBUSY: the own cgroup holds processes. Only when it holds nothing but
    // this process may we move out of the way.
    const int why = errno;
    std::istringstream procs(ReadText(own_dir + "/cgroup.procs"));
    std::vector<std::string> pids;
    for (std::string pid; procs >> pid;) pids.push_back(pid);
    const bool only_us = pids.size() == 1 && pids[0] == std::to_string(self);
    if (why != EBUSY || !only_us) {
      RemoveCgroup(cgroups->base_);
      return Fail("cannot enable the memory controller below " + own_dir + ": " + std::strerror(why) +
                  (why == EBUSY ? " (other processes share the cgroup)" : ""));
    }
    const std::string leaf = cgroups->base_ + "/supervisor";
    if (!MakeDir(leaf) || !WriteText(leaf + "/cgroup.procs", std::to_string(self))) {
      return FailErrno("cannot move the supervisor into " + leaf);
    }
    cgroups->moved_supervisor_ = true;
    if (!EnableMemoryBelow(own_dir)) return FailErrno("cannot enable the memory controller below " + own_dir);
  }
  if (!EnableMemoryBelow(cgroups->base_)) {
    return FailErrno("cannot enable the memory controller below " + cgroups->base_);
  }
  return cgroups;
}

WorkerCgroups::~WorkerCgroups() {
  if (!moved_supervisor_) RemoveCgroup(base_);  // else we still live in <base>/supervisor
}

Result<WorkerCgroups::Worker> WorkerCgroups::MakeWorkerCgroup(const std::string& name, int64_t max_bytes) const {
  Worker w{.dir = base_ + "/" + name};
  if (!MakeDir(w.dir)) return FailErrno("cannot create " + w.dir);
  if (!WriteText(w.dir + "/memory.max", std::to_string(max_bytes))) {
    return FailErrno("cannot write " + w.dir + "/memory.max");
  }
  // memory.swap.max exists only with swap accounting; without it there is no swap to limit.
  if (::access((w.dir + "/memory.swap.max").c_str(), F_OK) == 0) (void)WriteText(w.dir + "/memory.swap.max", "0");
  w.procs.Reset(::open((w.dir + "/cgroup.procs").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (!w.procs.valid()) return FailErrno("cannot open " + w.dir + "/cgroup.procs");
  return w;
}

Status WorkerCgroups::MoveInto(const Worker& worker, pid_t pid) {
  const std::string text = std::to_string(pid);
  if (::write(worker.procs.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return FailErrno("cannot move the worker into its cgroup " + worker.dir);
  }
  return OkStatus();
}

OomEvents WorkerCgroups::ReadOomEvents(const std::string& dir) {
  const std::string events = ReadText(dir + "/memory.events");
  OomEvents out;
  out.oom_kill = ReadKey(events, "oom_kill");
  out.evidence = "memory.events: max " + std::to_string(ReadKey(events, "max")) + " oom " +
                 std::to_string(ReadKey(events, "oom")) + " oom_kill " + std::to_string(out.oom_kill);
  const std::string peak = ReadText(dir + "/memory.peak");  // Linux 5.19 and later
  if (!peak.empty()) {
    out.evidence += "; memory.peak " + std::to_string(std::strtoll(peak.c_str(), nullptr, 10) >> 20) + " MiB";
  }
  return out;
}

void WorkerCgroups::RemoveCgroup(const std::string& dir) { (void)::rmdir(dir.c_str()); }

}  // namespace vigil::supervisor
