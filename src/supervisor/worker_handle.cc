#include "supervisor/worker_handle.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/write.hpp>

#include "supervisor/launcher.h"

namespace vigil::supervisor {

namespace asio = boost::asio;
using protocol::MessageType;

std::string_view WorkerStateName(WorkerState state) {
  switch (state) {
    case WorkerState::kStarting: return "starting";
    case WorkerState::kLoading: return "loading";
    case WorkerState::kIdle: return "idle";
    case WorkerState::kBusy: return "busy";
    case WorkerState::kStopping: return "stopping";
    case WorkerState::kDead: return "dead";
  }
  return "dead";
}

WorkerHandle::WorkerHandle(asio::io_context& io, ChildWatcher& watcher, Delegate& delegate,
                           Config config)
    : io_(io),
      watcher_(watcher),
      delegate_(delegate),
      config_(std::move(config)),
      channel_(io),
      output_(io),
      read_buf_(64 * 1024),
      monitor_(config_.hang),
      watchdog_(io),
      stop_timer_(io) {}

WorkerHandle::~WorkerHandle() {
  if (pid_ > 0 && state_ != WorkerState::kDead) watcher_.Unwatch(pid_);
  if (!cgroup_dir_.empty()) WorkerCgroups::RemoveCgroup(cgroup_dir_);
}

std::string WorkerHandle::id() const {
  return "w" + std::to_string(config_.slot) + "." + std::to_string(config_.incarnation);
}

void WorkerHandle::Emit(std::string_view event, nlohmann::json fields) {
  if (!config_.events) return;
  fields["worker"] = id();
  fields["pid"] = pid_;
  LogLevel level = LogLevel::kInfo;
  if (event == "worker_exited" || event == "worker_hung" || event == "worker_killed") {
    level = LogLevel::kWarn;
  }
  config_.events(level, event, fields);
}

void WorkerHandle::SetState(WorkerState s) {
  state_ = s;
  const TimePoint now = Clock::now();
  if (s == WorkerState::kIdle) monitor_.Enter(HangMonitor::Mode::kIdle, now);
  if (s == WorkerState::kBusy) monitor_.Enter(HangMonitor::Mode::kBusy, now);
  EarlierWatchdog();
}

// A shorter phase limit can move the deadline before the armed expiry.
void WorkerHandle::EarlierWatchdog() {
  if (pid_ <= 0 || state_ == WorkerState::kDead || state_ == WorkerState::kStopping || killing()) {
    return;
  }
  if (monitor_.NextDeadline() < watchdog_.expiry()) ArmWatchdog();
}

Status WorkerHandle::Spawn() {
  Result<WorkerCgroups::Worker> cgroup = WorkerCgroups::Worker{};
  if (config_.cgroups) {
    cgroup = config_.cgroups->MakeWorkerCgroup("worker-" + id(), config_.cgroup_memory_max);
    if (!cgroup.ok()) {
      state_ = WorkerState::kDead;
      return cgroup.error();
    }
    cgroup_dir_ = cgroup->dir;
  }
  auto spawned = SpawnWorkerProcess(config_.binary, config_.args, config_.address_space_limit,
                                    config_.hardening);
  if (!spawned.ok()) {
    state_ = WorkerState::kDead;
    return spawned.error();
  }
  if (cgroup->procs.valid()) {
    // At once, before the worker loads: a worker outside its cgroup would
    // run without its memory limit, so it does not run at all.
    if (Status moved = WorkerCgroups::MoveInto(*cgroup, spawned->pid); !moved.ok()) {
      ::kill(spawned->pid, SIGKILL);
      ::waitpid(spawned->pid, nullptr, 0);
      state_ = WorkerState::kDead;
      return moved.error();
    }
  }
  pid_ = spawned->pid;
  spawned_at_ = Clock::now();
  channel_.assign(asio::local::stream_protocol(), spawned->channel.Release());
  output_.assign(spawned->output.Release());
  std::weak_ptr<WorkerHandle> weak = weak_from_this();
  watcher_.Watch(pid_, std::move(spawned->pidfd), [weak](int status) {
    if (auto self = weak.lock()) self->OnExit(status);
  });
  state_ = WorkerState::kStarting;
  monitor_.Enter(HangMonitor::Mode::kLoading, spawned_at_);
  Emit("worker_spawned", {{"slot", config_.slot}, {"incarnation", config_.incarnation}});
  ReadChannel();
  ReadOutput();
  ArmWatchdog();
  return OkStatus();
}

// ---- protocol channel -------------------------------------------------------

void WorkerHandle::ReadChannel() {
  channel_.async_read_some(
      asio::buffer(read_buf_),
      [weak = weak_from_this()](const boost::system::error_code& ec, size_t n) {
        auto self = weak.lock();
        if (!self || ec == asio::error::operation_aborted) return;
        if (self->state_ == WorkerState::kDead) return;
        if (ec) return self->OnChannelClosed(ec == asio::error::eof ? "closed the protocol channel"
                                                                    : ec.message());
        self->decoder_.Feed(std::string_view(self->read_buf_.data(), n));
        if (self->ProcessFrames()) self->ReadChannel();
      });
}

bool WorkerHandle::ProcessFrames() {
  while (!killing() && state_ != WorkerState::kDead) {
    auto next = decoder_.Next();
    if (!next.ok()) {
      Violation("sent a malformed frame: " + next.error().message);
      return false;
    }
    if (!next->has_value()) return true;
    auto self = shared_from_this();  // a delegate may drop the last owner
    if (!HandleFrame(**next)) return false;
  }
  return false;
}

bool WorkerHandle::HandleFrame(protocol::Frame& frame) {
  switch (frame.type) {
    case MessageType::kHello:
      return HandleHello(frame);
    case MessageType::kLoaded: {
      auto loaded = protocol::ParseLoaded(frame);
      if (!loaded.ok()) return Violation(loaded.error().message), false;
      if (state_ != WorkerState::kLoading) return Violation("sent loaded out of turn"), false;
      loaded_ = *loaded;
      SetState(WorkerState::kIdle);
      Emit("worker_loaded", {{"load_ms", loaded->load_ms},
                             {"model", loaded->model.name},
                             {"device", loaded->model.device}});
      delegate_.OnWorkerLoaded(*this, *loaded_);
      return true;
    }
    case MessageType::kHeartbeat: {
      auto hb = protocol::ParseHeartbeat(frame);
      if (!hb.ok()) return Violation(hb.error().message), false;
      monitor_.OnHeartbeat(hb->phase, hb->progress, Clock::now());
      EarlierWatchdog();
      return true;
    }
    case MessageType::kFailed:
      if (state_ == WorkerState::kLoading) {  // job 0: why the load failed; the exit follows
        auto m = protocol::ParseFailed(frame);
        if (!m.ok()) return Violation(m.error().message), false;
        if (m->job_id != 0) return Violation("sent failed for a job while loading"), false;
        load_error_ = Error{m->code, m->message};
        Emit("worker_load_failed", {{"code", std::string(WireName(m->code))}, {"message", m->message}});
        return true;
      }
      return HandleJobFrame(frame);
    case MessageType::kProgress:
    case MessageType::kPiece:
    case MessageType::kDone:
      return HandleJobFrame(frame);
    default:
      Violation("sent a " + std::string(protocol::MessageTypeName(frame.type)) + " frame");
      return false;
  }
}

bool WorkerHandle::HandleHello(const protocol::Frame& frame) {
  auto hello = protocol::ParseHello(frame);
  if (!hello.ok()) return Violation(hello.error().message), false;
  if (state_ != WorkerState::kStarting) return Violation("sent a second hello"), false;
  if (hello->protocol < protocol::kMinProtocolVersion ||
      hello->protocol > protocol::kProtocolVersion) {
    return Violation("speaks protocol " + std::to_string(hello->protocol)), false;
  }
  protocol_version_ = hello->protocol;
  SetState(WorkerState::kLoading);
  return true;
}

void WorkerHandle::Send(const protocol::Frame& frame) {
  if (state_ == WorkerState::kDead || channel_closed_) return;
  outbox_.push_back(protocol::EncodeFrame(frame));
  if (!writing_) WriteNext();
}

void WorkerHandle::WriteNext() {
  if (outbox_.empty()) {
    writing_ = false;
    return;
  }
  writing_ = true;
  // asio's local socket sends with MSG_NOSIGNAL: a dead peer is EPIPE, not SIGPIPE.
  asio::async_write(channel_, asio::buffer(outbox_.front()),
                    [weak = weak_from_this()](const boost::system::error_code& ec, size_t) {
                      auto self = weak.lock();
                      if (!self || ec == asio::error::operation_aborted) return;
                      if (self->state_ == WorkerState::kDead) return;
                      self->outbox_.pop_front();
                      if (ec) {
                        self->writing_ = false;
                        self->outbox_.clear();
                        return self->OnChannelClosed("write failed: " + ec.message());
                      }
                      self->WriteNext();
                    });
}

// The channel closed while the process may still live. A dying process
// closes it a moment before the pidfd fires; give the exit kill_grace to
// arrive (so the real cause, e.g. SIGSEGV, is recorded) before killing.
void WorkerHandle::OnChannelClosed(const std::string& why) {
  if (channel_closed_) return;
  channel_closed_ = true;
  if (killing() || state_ == WorkerState::kStopping) return;
  stop_timer_.expires_after(config_.kill_grace);
  stop_timer_.async_wait([weak = weak_from_this(), why](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->state_ == WorkerState::kDead) return;
    self->Kill(KillReason::kProtocolError, why + " while alive");
  });
}

// ---- stdout/stderr ----------------------------------------------------------

void WorkerHandle::ReadOutput() {
  auto buf = std::make_shared<std::array<char, 4096>>();
  output_.async_read_some(asio::buffer(*buf), [weak = weak_from_this(), buf](
                                                  const boost::system::error_code& ec, size_t n) {
    auto self = weak.lock();
    if (!self || ec == asio::error::operation_aborted) return;
    if (ec) return self->OnOutputBytes(nullptr, 0, true);
    self->OnOutputBytes(buf->data(), n, false);
    self->ReadOutput();
  });
}

void WorkerHandle::OnOutputBytes(const char* data, size_t n, bool flush) {
  output_partial_.append(data ? data : "", n);
  size_t start = 0;
  for (;;) {
    size_t nl = output_partial_.find('\n', start);
    const bool overlong = nl == std::string::npos && output_partial_.size() - start >= 4096;
    if (nl == std::string::npos && !overlong && !(flush && start < output_partial_.size())) break;
    size_t end = nl == std::string::npos ? output_partial_.size() : nl;
    std::string line = output_partial_.substr(start, std::min<size_t>(end - start, 4096));
    start = nl == std::string::npos ? end : nl + 1;
    if (stderr_tail_.size() >= config_.stderr_lines) stderr_tail_.pop_front();
    stderr_tail_.push_back(line);
    if (config_.events) {
      config_.events(LogLevel::kInfo, "worker_output_received", {{"worker", id()}, {"line", line}});
    }
  }
  output_partial_.erase(0, start);
}

// ---- stop, kill -------------------------------------------------------

void WorkerHandle::Stop() {
  if (state_ == WorkerState::kDead || state_ == WorkerState::kStopping) return;
  SetState(WorkerState::kStopping);
  watchdog_.cancel();
  Emit("worker_stop_requested", {{"step", "shutdown_sent"}});
  Send(protocol::ToFrame(protocol::Shutdown{}));
  stop_timer_.expires_after(config_.kill_grace);
  stop_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->state_ == WorkerState::kDead) return;
    self->Kill(KillReason::kShutdown, "did not exit within kill_grace of shutdown");
  });
}

void WorkerHandle::Kill(KillReason reason, std::string why) {
  if (state_ == WorkerState::kDead || killing() || pid_ <= 0 || reaped_) return;
  kill_reason_ = reason;
  kill_why_ = std::move(why);
  kill_sent_at_ = Clock::now();
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  watchdog_.cancel();
  Emit("worker_killed", {{"reason", KillReasonName(reason)}, {"why", kill_why_}});
}

// The process is gone: nothing more is read, written or timed for it.
void WorkerHandle::BecomeDead() {
  state_ = WorkerState::kDead;
  boost::system::error_code ignored;
  channel_.close(ignored);
  output_.close(ignored);
  watchdog_.cancel();
  for (auto& [id, job] : jobs_) {
    if (job.cancel_timer) job.cancel_timer->cancel();
  }
  stop_timer_.cancel();
}

void WorkerHandle::KillAndReapNow() {
  if (pid_ <= 0 || state_ == WorkerState::kDead) return;
  watcher_.KillAndReapNow(pid_);
  BecomeDead();
}

// ---- liveness -----------------------------------------------------------------

void WorkerHandle::ArmWatchdog() {
  watchdog_.expires_at(monitor_.NextDeadline());
  watchdog_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    if (self->state_ == WorkerState::kDead || self->state_ == WorkerState::kStopping ||
        self->killing()) {
      return;
    }
    if (auto why = self->monitor_.Check(Clock::now())) {
      nlohmann::json job_ids = nlohmann::json::array();
      for (const auto& [id, job] : self->jobs_) job_ids.push_back(id);
      self->Emit("worker_hung", {{"why", *why},
                                 {"state", WorkerStateName(self->state_)},
                                 {"phase", self->monitor_.phase()},
                                 {"job_ids", std::move(job_ids)}});
      return self->Kill(KillReason::kHung, *why);
    }
    self->ArmWatchdog();
  });
}

}  // namespace vigil::supervisor
