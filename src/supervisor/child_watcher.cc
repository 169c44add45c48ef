#include "supervisor/child_watcher.h"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>

namespace vigil::supervisor {

namespace asio = boost::asio;

ChildWatcher::ChildWatcher(asio::io_context& io) : io_(io) {}

ChildWatcher::~ChildWatcher() {
  *alive_ = false;
  for (auto& [pid, child] : children_) {
    if (child.pidfd) child.pidfd->close();
  }
}

void ChildWatcher::Watch(pid_t pid, UniqueFd pidfd, ExitCallback on_exit) {
  Child child;
  child.on_exit = std::move(on_exit);
  if (pidfd.valid()) {
    child.pidfd = std::make_unique<asio::posix::stream_descriptor>(io_, pidfd.Release());
  }
  const bool has_pidfd = child.pidfd != nullptr;
  children_[pid] = std::move(child);
  if (has_pidfd) {
    ArmPidfd(pid);
  } else {
    ArmSigchld();
    // The child may already have died before the signal_set existed.
    asio::post(io_, [this, pid, alive = std::weak_ptr<bool>(alive_)] {
      if (alive.lock()) TryReap(pid);
    });
  }
}

void ChildWatcher::ArmPidfd(pid_t pid) {
  auto& sd = *children_.at(pid).pidfd;
  sd.async_wait(asio::posix::stream_descriptor::wait_read,
                [this, pid, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
                  if (!alive.lock() || ec == asio::error::operation_aborted) return;
                  if (!children_.contains(pid)) return;
                  if (!TryReap(pid) && children_.contains(pid)) ArmPidfd(pid);
                });
}

void ChildWatcher::ArmSigchld() {
  if (!sigchld_) sigchld_.emplace(io_, SIGCHLD);
  sigchld_->async_wait([this, alive = std::weak_ptr<bool>(alive_)](
                           const boost::system::error_code& ec, int) {
    if (!alive.lock() || ec == asio::error::operation_aborted) return;
    // One SIGCHLD may stand for several deaths: try every watched pid.
    std::vector<pid_t> pids;
    for (const auto& [pid, child] : children_) {
      if (!child.pidfd) pids.push_back(pid);
    }
    for (pid_t pid : pids) TryReap(pid);
    if (alive.lock()) ArmSigchld();
  });
}

// Returns true if the child was reaped (and its callback ran).
bool ChildWatcher::TryReap(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  auto it = children_.find(pid);
  if (it == children_.end()) return true;
  ExitCallback cb = std::move(it->second.on_exit);
  children_.erase(it);
  // ECHILD: someone else reaped it; report a plain SIGKILL-like death.
  if (r < 0) status = SIGKILL;
  if (cb) cb(status);
  return true;
}

void ChildWatcher::Unwatch(pid_t pid) { children_.erase(pid); }

void ChildWatcher::KillAndReapNow(pid_t pid) {
  children_.erase(pid);
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

bool ChildWatcher::HasExited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == pid;
}

}  // namespace vigil::supervisor
