#include "worker/sandbox.h"

#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/user.h"

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

Error Bad(std::string message) { return MakeError(ErrorCode::kInvalidRequest, std::move(message)); }

// CapEff of this thread, "none" when empty (read before Landlock hides /proc).
std::string EffectiveCaps() {
  std::FILE* f = std::fopen("/proc/self/status", "re");
  if (!f) return "unknown";
  char line[256];
  std::string caps = "unknown";
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "CapEff:", 7) != 0) continue;
    const unsigned long long bits = std::strtoull(line + 7, nullptr, 16);
    char hex[32];
    std::snprintf(hex, sizeof hex, "%llx", bits);
    caps = bits == 0 ? "none" : std::string("0x") + hex;
  }
  std::fclose(f);
  return caps;
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
    struct rlimit lim {};
    ::getrlimit(RLIMIT_AS, &lim);  // the supervisor's launcher may have set one
    report += lim.rlim_cur == RLIM_INFINITY ? " as=off" : " as=" + std::to_string(lim.rlim_cur >> 20) + "MiB";
  }
  // A new network namespace needs CAP_SYS_ADMIN (or an unprivileged user
  // namespace). Without it the seccomp filter of LockDown still refuses
  // every new socket, from the first job on.
  report += ::unshare(CLONE_NEWNET) == 0 ? " net=netns" : " net=shared";
  return report;
}

Result<std::string> SwitchUser(const std::string& user) {
  const uid_t before = ::geteuid();
  if (user.empty() || user == "root" || user == "0") {
    return "user=unchanged(" + std::to_string(before) + ")";
  }
  Result<std::pair<uid_t, gid_t>> ids = LookUpUser(user);
  if (!ids) return Bad("--user: " + ids.error().message);
  const auto [uid, gid] = *ids;
  if (before != 0) {
    if (before == uid) return "user=" + user + "(" + std::to_string(uid) + ")";
    return Bad("--user " + user + " needs root; running as uid " + std::to_string(before));
  }
  // Group first (after the uid change we could no longer), then the uid.
  // glibc applies set*id to every thread of the process (its SIGSETXID
  // broadcast), so the engine's threads switch too.
  if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0) {
    return Bad("--user " + user + ": " + std::strerror(errno));
  }
  if (::setresuid(0, 0, 0) == 0) return Bad("--user " + user + ": could regain root");
  return "user=" + user + "(" + std::to_string(uid) + ")";
}

Result<std::string> LockDown(const LockdownOptions& options) {
  Result<std::string> user = SwitchUser(options.user);
  if (!user) return user.error();
  std::string report = *user;
  // A uid change from 0 cleared every capability; say what is left.
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  report += " caps=" + EffectiveCaps();
  report += " " + (options.landlock ? ApplyLandlock(options.read_paths) : std::string("landlock=off(disabled)"));
  report += " " + (options.seccomp ? ApplySeccomp() : std::string("seccomp=off(disabled)"));
  return report;
}

}  // namespace vigil::worker
