#include "supervisor/launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "common/spawn.h"

namespace vigil::supervisor {
namespace {

Error ErrnoError(const char* what) {
  return MakeError(ErrorCode::kInternal, std::string(what) + ": " + strerror(errno));
}

// Before exec, for programs that do not harden themselves (launcher.h).
// Runs in the child: async-signal-safe calls only.
void Harden(const SpawnHardening& h, pid_t parent) {
  if (h.no_new_privs) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (h.max_open_files > 0) {
    struct rlimit files = {static_cast<rlim_t>(h.max_open_files), static_cast<rlim_t>(h.max_open_files)};
    setrlimit(RLIMIT_NOFILE, &files);
  }
  // Needs CAP_SYS_ADMIN: a supervisor without it leaves the network as is
  // (the worker's log line cannot say so; docs/protocol.md does).
  if (h.new_network_namespace) (void)unshare(CLONE_NEWNET);
  const auto gid = static_cast<gid_t>(h.gid);
  const auto uid = static_cast<uid_t>(h.uid);
  if (h.gid >= 0 && (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0)) _exit(126);
  if (h.uid >= 0 && setresuid(uid, uid, uid) != 0) _exit(126);
  // A uid change clears the parent-death signal (kernel commit_creds).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
}

struct HardenContext {
  const SpawnHardening* hardening;
  pid_t parent;
};

void HardenBeforeExec(const void* context) {
  const auto* c = static_cast<const HardenContext*>(context);
  Harden(*c->hardening, c->parent);
}

}  // namespace

Result<SpawnedProcess> SpawnWorkerProcess(const std::string& binary,
                                          const std::vector<std::string>& args,
                                          int64_t address_space_limit,
                                          const SpawnHardening& hardening) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return ErrnoError("socketpair");
  UniqueFd ours(sv[0]), theirs(sv[1]);
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  UniqueFd out_read(pipefd[0]), out_write(pipefd[1]);
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoError("open /dev/null");

  // The child's setup (common/spawn.h): the channel on fd 3, output on 1
  // and 2, /dev/null on 0, nothing else; PDEATHSIG, its own group, default
  // signals, no core, the address-space limit, then the hardening.
  SpawnSpec spec{.argv = {binary}};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.argv.insert(spec.argv.end(), {"--fd", std::to_string(kWorkerChannelFd)});
  spec.fds = {{STDIN_FILENO, devnull.get()}, {STDOUT_FILENO, out_write.get()},
              {STDERR_FILENO, out_write.get()}, {kWorkerChannelFd, theirs.get()}};
  spec.parent_death_signal = SIGKILL;
  spec.own_process_group = true;
  spec.reset_signals = true;
  spec.no_core = true;
  spec.address_space_limit = address_space_limit;
  const HardenContext harden{&hardening, getpid()};
  spec.before_exec = HardenBeforeExec;
  spec.before_exec_context = &harden;
  Result<pid_t> pid = Spawn(spec);
  if (!pid.ok()) return pid.error();

  SpawnedProcess p;
  p.pid = *pid;
  p.pidfd.Reset(static_cast<int>(syscall(SYS_pidfd_open, *pid, 0)));
  p.channel = std::move(ours);
  p.output = std::move(out_read);
  fcntl(p.channel.get(), F_SETFL, fcntl(p.channel.get(), F_GETFL) | O_NONBLOCK);
  fcntl(p.output.get(), F_SETFL, fcntl(p.output.get(), F_GETFL) | O_NONBLOCK);
  if (p.pidfd.valid()) fcntl(p.pidfd.get(), F_SETFD, FD_CLOEXEC);
  return p;
}

}  // namespace vigil::supervisor
