#include "cli/tuning.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/spawn.h"
#include "common/unique_fd.h"

namespace vigil::cli {
namespace {

int Cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
}

// stdout of `binary --list-devices`, or "" when it cannot run.
std::string ListDevices(const std::string& binary) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "";
  UniqueFd out_read(fds[0]), out_write(fds[1]);
  Result<pid_t> pid = Spawn({.argv = {binary, "--list-devices"}, .fds = {{STDOUT_FILENO, out_write.get()}}});
  if (!pid.ok()) return "";
  out_write.Reset();  // the child's copy is the only writer: EOF when it exits
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(out_read.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? out : "";
}

}  // namespace

Machine ProbeMachine(const std::string& worker_binary, bool want_gpus) {
  Machine m;
  m.cores = Cores();
  if (!want_gpus) return m;
  std::istringstream lines(ListDevices(worker_binary));
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || j.value("type", "") != "gpu") continue;
    m.gpus.push_back({j.value("name", ""), j.value("memory_total", int64_t{0}), j.value("memory_free", int64_t{0})});
  }
  return m;
}

Tuning ChooseTuning(const Machine& m, const TuningRequest& r) {
  Tuning t;
  const bool gpu = !m.gpus.empty() && r.gpu_layers != 0;
  t.basis = std::to_string(m.cores) + (m.cores == 1 ? " core, " : " cores, ") +
            (gpu ? std::to_string(m.gpus.size()) + " GPU" + (m.gpus.size() > 1 ? "s" : "")
                 : std::string(m.gpus.empty() ? "no GPU" : "GPU not used (--gpu-layers 0)"));
  if (gpu) {
    t.workers = r.workers > 0 ? r.workers : static_cast<int>(m.gpus.size());
    t.jobs = r.jobs > 0 ? r.jobs : 8;
    // The spare needs room for its own copy of the weights and buffers.
    const Gpu& first = m.gpus.front();
    const bool room = r.model_bytes > 0 && first.memory_free > 3 * r.model_bytes;
    t.spare_workers = r.spare_workers >= 0 ? r.spare_workers : (room ? 1 : 0);
  } else {
    t.workers = r.workers > 0 ? r.workers : 1;
    t.jobs = r.jobs > 0 ? r.jobs : 4;
    t.spare_workers = r.spare_workers >= 0 ? r.spare_workers : 0;
  }
  // With every layer on a GPU the CPU threads only sample and spin; many of
  // them slow each step down (llama-server at its default of one thread per
  // core reached a fraction of its -t 2 throughput on a 32-core H200 host).
  const int per_worker = std::max(1, m.cores / t.workers);
  t.threads = r.threads > 0 ? r.threads : gpu ? std::min(per_worker, 4) : per_worker;
  return t;
}

}  // namespace vigil::cli
