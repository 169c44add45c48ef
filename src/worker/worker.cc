#include "worker/worker.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <map>
#include <memory>
#include <thread>

#include "common/log.h"
#include "protocol/messages.h"
#include "worker/channel.h"
#include "worker/engine/engine.h"
#include "worker/fault.h"
#include "worker/heartbeat.h"
#include "worker/job_runner.h"
#include "worker/sandbox.h"

namespace vigil::worker {
namespace {

// LeakSanitizer stops the process with ptrace when it exits, which the
// seccomp filter kills, and reads /proc/<pid>/task, which Landlock hides: a
// sanitized worker serves without either (their rules are still tested
// directly, tests/unit/worker/sandbox_test.cc).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr auto kHeartbeatPeriod = std::chrono::milliseconds(100);

[[noreturn]] void ProtocolExit(const std::string& why) {
  LogError("worker_quit", {{"why", why}});
  ::_exit(protocol::kExitProtocolError);
}

// Jobs and cancels handed from the reader thread to the main thread. Every
// job from Push until Forget has a cancel flag, so a Cancel reaches it
// whether it is queued or running; a Cancel for an unknown or finished job
// is ignored (its Done crossed the Cancel).
class Inbox {
 public:
  struct Entry {
    protocol::Job job;
    std::shared_ptr<std::atomic<bool>> cancel;
  };

  void Push(protocol::Job job) {
    std::lock_guard<std::mutex> lock(mu_);
    auto flag = std::make_shared<std::atomic<bool>>(false);
    flags_[job.job_id] = flag;
    queue_.push_back(Entry{std::move(job), std::move(flag)});
    cv_.notify_all();
  }
  void Cancel(uint64_t job_id) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = flags_.find(job_id); it != flags_.end()) it->second->store(true);
  }
  void Forget(uint64_t job_id) {
    std::lock_guard<std::mutex> lock(mu_);
    flags_.erase(job_id);
  }
  void RequestShutdown() {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    cv_.notify_all();
  }
  // The next job; with `block`, waits for one. nullopt: none now (or, once
  // closed(), none ever).
  std::optional<Entry> Take(bool block) {
    std::unique_lock<std::mutex> lock(mu_);
    if (block) cv_.wait(lock, [&] { return shutdown_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    Entry e = std::move(queue_.front());
    queue_.pop_front();
    return e;
  }
  // Shut down and drained: no job will come.
  bool closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return shutdown_ && queue_.empty();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  std::map<uint64_t, std::shared_ptr<std::atomic<bool>>> flags_;
  bool shutdown_ = false;
};

// Reader thread body. Returns after Shutdown or when the channel was closed
// by the close_protocol fault; every other ending exits the process.
void ReadFrames(Channel& channel, Inbox& inbox) {
  for (;;) {
    Result<std::optional<protocol::Frame>> next = channel.Receive();
    if (!next) ProtocolExit("bad frame from the supervisor: " + next.error().message);
    if (!*next) {
      if (channel.closed()) return;
      ProtocolExit("the supervisor closed the channel");
    }
    protocol::Frame& frame = **next;
    switch (frame.type) {
      case protocol::MessageType::kJob: {
        Result<protocol::Job> job = protocol::ParseJob(std::move(frame));
        if (!job) ProtocolExit(job.error().message);
        inbox.Push(std::move(*job));
        break;
      }
      case protocol::MessageType::kCancel: {
        Result<protocol::Cancel> cancel = protocol::ParseCancel(frame);
        if (!cancel) ProtocolExit(cancel.error().message);
        inbox.Cancel(cancel->job_id);
        break;
      }
      case protocol::MessageType::kShutdown:
        inbox.RequestShutdown();
        return;
      default:
        ProtocolExit("unexpected " + std::string(protocol::MessageTypeName(frame.type)) +
                     " frame from the supervisor");
    }
  }
}

Result<protocol::Loaded> Load(Engine& engine, const WorkerOptions& o, WorkerState& state,
                              Channel& channel) {
  if (!o.fault_at_load.empty()) TriggerFault(*ParseFaultKind(o.fault_at_load), 1, channel);
  EngineOptions eo;
  eo.model = o.model;
  eo.mmproj = o.mmproj;
  eo.ctx = o.ctx;
  eo.capacity = o.jobs;
  eo.threads = o.threads;
  eo.gpu_layers = o.gpu_layers;
  eo.device = o.device;
  eo.chaos_tokens_per_second = o.chaos_tokens_per_second;
  eo.chaos_load_ms = o.chaos_load_ms;
  eo.image_cache_mb = o.image_cache_mb;
  eo.model_name = o.model_name;
  const auto start = std::chrono::steady_clock::now();
  Result<protocol::ModelFacts> facts = engine.Load(eo, [&state] { state.Advance(); });
  if (!facts) return facts.error();
  protocol::Loaded loaded;
  loaded.load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  loaded.model = std::move(*facts);
  loaded.capacity = engine.capacity();
  return loaded;
}

// The main thread's loop: admit newcomers while there is room (decoding
// their images), Step while anything runs, block only when nothing does.
// Returns once shut down, drained, and every job ended.
void ServeJobs(Inbox& inbox, JobContext ctx) {
  Engine& engine = ctx.engine;
  std::vector<std::unique_ptr<JobRun>> runs;
  auto reap = [&] {
    std::erase_if(runs, [&](const std::unique_ptr<JobRun>& run) {
      if (run->ended()) inbox.Forget(run->job_id());
      return run->ended();
    });
    if (engine.Empty()) {
      ctx.state.phase = Phase::kIdle;
      ctx.state.job_id = 0;
    }
  };
  for (;;) {
    while (engine.Running() < engine.capacity()) {
      std::optional<Inbox::Entry> entry = inbox.Take(/*block=*/engine.Empty());
      if (!entry) break;
      runs.push_back(std::make_unique<JobRun>(std::move(entry->job), std::move(entry->cancel), ctx));
      runs.back()->Start();
      reap();
    }
    if (engine.Empty()) {
      if (inbox.closed()) return;
      continue;
    }
    engine.Step();
    reap();
  }
}

}  // namespace

int RunWorker(const WorkerOptions& options, WorkerState& state) {
  const pid_t parent = ::getppid();
  Channel channel(options.fd);
  std::unique_ptr<Engine> engine = MakeEngine(options.engine);
  channel.Send(protocol::ToFrame(protocol::Hello{protocol::kProtocolVersion, options.engine, ::getpid()}));
  state.phase = Phase::kLoad;
  Heartbeat heartbeat(channel, state, kHeartbeatPeriod);
  heartbeat.Start();

  Result<protocol::Loaded> loaded = Load(*engine, options, state, channel);
  if (!loaded) {
    LogError("model_load_failed", {{"code", std::string(WireName(loaded.error().code))},
                                   {"message", loaded.error().message}});
    heartbeat.Stop();
    channel.Send(protocol::ToFrame(protocol::Failed{0, loaded.error().code, loaded.error().message}));
    return protocol::kExitFatalConfig;
  }
  LogInfo("model_loaded", {{"model", loaded->model.name}, {"load_ms", std::lround(loaded->load_ms)}});
  // Serving needs no files and no network: lock down before the first job
  // (sandbox.h). The heartbeat thread restarts inside the new limits.
  heartbeat.Stop();
  // A GPU driver keeps working lazily after load: the NVIDIA Vulkan driver
  // compiles pipelines at the first decode and was seen (H200, driver
  // 580.159) to exec a helper then (seccomp: SIGSYS on execve) and to abort
  // in ggml's graph compute when its files were refused. Until the GPU
  // lock-down is qualified per driver, a GPU worker keeps only the measures
  // taken at start (no_new_privs, no core files, descriptor cap, netns).
  const bool on_gpu = loaded->model.gpu_layers > 0;
  if (on_gpu) {
    LogInfo("sandbox_applied", {{"stage", "after_load"}, {"summary", "skipped on a GPU"},
                                {"device", loaded->model.device}});
  }
  Result<std::string> locked =
      on_gpu ? Result<std::string>(std::string("skipped on a GPU"))
             : LockDown({.user = options.user, .read_paths = {options.model, options.mmproj},
                         .landlock = options.sandbox && !kSanitized,
                         .seccomp = options.sandbox && !kSanitized});
  if (!locked) {
    LogError("sandbox_failed", {{"stage", "after_load"}, {"message", locked.error().message}});
    channel.Send(protocol::ToFrame(protocol::Failed{0, locked.error().code, locked.error().message}));
    return protocol::kExitFatalConfig;
  }
  if (!on_gpu) LogInfo("sandbox_applied", {{"stage", "after_load"}, {"summary", *locked}});
  // A uid change clears the parent-death signal (kernel commit_creds): set
  // it again, and check the supervisor did not die in between.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ProtocolExit("supervisor gone during lock-down");
  heartbeat.Start();
  state.phase = Phase::kIdle;
  channel.Send(protocol::ToFrame(*loaded));

  Inbox inbox;
  std::thread reader([&] { ReadFrames(channel, inbox); });
  ServeJobs(inbox, JobContext{channel, state, *engine, options});
  reader.join();
  heartbeat.Stop();
  return protocol::kExitClean;
}

}  // namespace vigil::worker
