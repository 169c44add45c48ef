// child_watcher.h: sees a worker's death at once and reaps it.
//
// With a pidfd (Linux 5.3+), each child's pidfd is watched for readability
// by the io_context (epoll): the kernel wakes the loop the instant the child
// becomes a zombie. Without one, a single SIGCHLD signal_set wakes the loop
// (asio's self-pipe) and every watched pid is tried with waitpid(WNOHANG)
// until none is left to reap, as nginx's ngx_process_get_status does. Only
// watched pids are waited for: other children of this process (the front's,
// a test's) are not stolen. Nothing polls.
//
// The callback gets the raw wait status and runs on the event-loop thread,
// once per watched child, unless Unwatch() came first.
//
// Thread-safety: none (event-loop thread).
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "common/unique_fd.h"

namespace vigil::supervisor {

class ChildWatcher {
 public:
  using ExitCallback = std::function<void(int wait_status)>;

  explicit ChildWatcher(boost::asio::io_context& io);
  ~ChildWatcher();
  ChildWatcher(const ChildWatcher&) = delete;
  ChildWatcher& operator=(const ChildWatcher&) = delete;

  // Takes ownership of pidfd (may be invalid: SIGCHLD fallback).
  void Watch(pid_t pid, UniqueFd pidfd, ExitCallback on_exit);
  // Stops watching; the child is not reaped here (see KillAndReapNow).
  void Unwatch(pid_t pid);
  // Teardown path: SIGKILL the child's group and reap it synchronously. Used
  // only when the supervisor itself is being destroyed.
  void KillAndReapNow(pid_t pid);

  size_t watched() const { return children_.size(); }

  // True if the child has exited but may not be reaped yet (waitid with
  // WNOWAIT: the exit stays for the watcher to report). Dispatch asks this
  // so a job is never handed to a worker that already died while its exit
  // event waits in the loop's queue: that job would be charged a crash that
  // its input did not cause.
  static bool HasExited(pid_t pid);

 private:
  struct Child {
    std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd;
    ExitCallback on_exit;
  };
  void ArmPidfd(pid_t pid);
  void ArmSigchld();
  bool TryReap(pid_t pid);

  boost::asio::io_context& io_;
  std::map<pid_t, Child> children_;
  std::optional<boost::asio::signal_set> sigchld_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vigil::supervisor
