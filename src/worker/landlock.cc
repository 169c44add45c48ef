// Landlock for a loaded worker (sandbox.h, step 2): after this the thread
// that calls it, and every thread it creates, may only read the model
// files, the files already mapped and a few device and kernel paths.
// Raw syscalls: glibc has no wrappers. Constants the installed header may
// lack are defined here from the kernel ABI (they never change).
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "worker/sandbox.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

namespace vigil::worker {
namespace {

// The ruleset attribute of ABI 6 (fs, net, scoped); older kernels read only
// the prefix whose size we pass.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

constexpr uint64_t kRead = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
// Everything of ABI 1 except reads, which rules grant back per path.
constexpr uint64_t kAbi1 = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                           LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
                           LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                           LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
                           LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
                           LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                           LANDLOCK_ACCESS_FS_MAKE_SYM;

// Paths a serving worker may still read besides its model and libraries:
// GPU drivers re-read device and topology information; /dev/null and the
// random devices are harmless. (Descriptors opened at load keep working
// whatever Landlock says: it checks at open.)
const char* const kAlwaysReadable[] = {"/dev/null", "/dev/urandom", "/dev/random", "/dev/dri",
                                       "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia0",
                                       "/sys/devices/system/cpu", "/proc/self/maps", "/proc/self/status"};

// Every file this process has mapped (its libraries, the model, ...), from
// /proc/self/maps.
std::set<std::string> MappedFiles() {
  std::set<std::string> files;
  std::FILE* f = std::fopen("/proc/self/maps", "re");
  if (!f) return files;
  char line[4096];
  while (std::fgets(line, sizeof line, f)) {
    const char* slash = std::strchr(line, '/');
    if (!slash) continue;
    std::string path(slash);
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    if (path.size() > 10 && path.ends_with(" (deleted)")) continue;
    files.insert(path);
  }
  std::fclose(f);
  return files;
}

bool AllowRead(int ruleset, const std::string& path) {
  const int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  const bool dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  landlock_path_beneath_attr rule{};
  rule.allowed_access = dir ? kRead : LANDLOCK_ACCESS_FS_READ_FILE;
  rule.parent_fd = fd;
  const bool ok = ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::string ApplyLandlock(const std::vector<std::string>& read_paths) {
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) return std::string("landlock=off(") + (errno == EOPNOTSUPP ? "disabled in this kernel" : "not in this kernel") + ")";
  RulesetAttr attr{};
  attr.handled_access_fs = kAbi1;
  if (abi >= 2) attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
  // ABI 5's IOCTL_DEV is left unhandled: GPU drivers live on ioctls.
  if (abi >= 4) attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
  if (abi >= 6) attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
  const size_t size = abi >= 6 ? sizeof(RulesetAttr) : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
  const int ruleset = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (ruleset < 0) return std::string("landlock=off(") + std::strerror(errno) + ")";
  int allowed = 0;
  for (const std::string& path : MappedFiles()) allowed += AllowRead(ruleset, path);
  for (const std::string& path : read_paths) allowed += !path.empty() && AllowRead(ruleset, path);
  for (const char* path : kAlwaysReadable) allowed += AllowRead(ruleset, path);
  const bool ok = ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
                  ::syscall(SYS_landlock_restrict_self, ruleset, 0) == 0;
  const int err = errno;
  ::close(ruleset);
  if (!ok) return std::string("landlock=off(") + std::strerror(err) + ")";
  return "landlock=abi" + std::to_string(abi) + "(" + std::to_string(allowed) + " paths readable)";
}

}  // namespace vigil::worker
