#include "cli/worker_limits.h"

#include <algorithm>

namespace vigil::cli {

WorkerLimits ChooseWorkerLimits(const WorkerLimitsRequest& r, bool running_as_root,
                                int64_t physical_memory_bytes) {
  WorkerLimits out;
  std::string user = r.user;
  if (user == "auto") user = running_as_root ? "nobody" : "";
  if (user == "none" || user == "root") user.clear();
  if (!user.empty()) out.args = {"--user", user};
  out.summary = "workers run as " + (user.empty() ? std::string("the supervisor's user") : user) +
                (r.external ? " from the start" : " once loaded");

  out.memory_limit_mb = std::max<int64_t>(0, r.memory_limit_mb);
  if (r.memory_limit_mb < 0 && (!r.gpu || r.cgroup_v2) && physical_memory_bytes > 0) {
    const int64_t share = physical_memory_bytes / 4 * 3 / std::max(1, r.processes);
    const int64_t floor = 2 * r.model_bytes + (int64_t{2} << 30);
    out.memory_limit_mb = std::max(share, floor) >> 20;
  }
  const std::string why_not = r.cgroup_v2_why_not.empty() ? "" : "; cgroup v2 unavailable: " + r.cgroup_v2_why_not;
  if (out.memory_limit_mb == 0) {
    out.memory_mechanism = "none";
    out.summary += "; no memory limit";
    if (r.gpu && r.memory_limit_mb < 0) out.summary += " (GPU: RLIMIT_AS breaks drivers" + why_not + ")";
  } else if (r.cgroup_v2) {
    out.memory_mechanism = "cgroup_v2";
    out.summary += "; memory limit " + std::to_string(out.memory_limit_mb) +
                   " MiB each (cgroup v2 memory.max, no swap)";
  } else {
    out.memory_mechanism = "rlimit_as";
    out.summary += "; memory limit " + std::to_string(out.memory_limit_mb) + " MiB each (RLIMIT_AS" + why_not + ")";
  }
  return out;
}

}  // namespace vigil::cli
