#include "worker/worker.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "protocol/messages.h"
#include "worker/channel.h"
#include "worker/engine/engine.h"
#include "worker/fault.h"
#include "worker/heartbeat.h"
#include "worker/job_runner.h"

namespace vigil::worker {
namespace {

constexpr auto kHeartbeatPeriod = std::chrono::milliseconds(100);

[[noreturn]] void ProtocolExit(const std::string& why) {
  std::fprintf(stderr, "vigil-worker: %s; exiting\n", why.c_str());
  std::fflush(stderr);
  ::_exit(protocol::kExitProtocolError);
}

// Jobs handed from the reader thread to the main thread.
class Inbox {
 public:
  void Push(protocol::Job job) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(job));
    cv_.notify_all();
  }
  void Cancel(uint64_t job_id) {
    std::lock_guard<std::mutex> lock(mu_);
    if (job_id == running_) {
      cancel_ = true;
      return;
    }
    for (const auto& job : queue_) {
      if (job.job_id == job_id) cancelled_.insert(job_id);
    }
    // Otherwise the job already finished: its Done crossed this Cancel.
  }
  void RequestShutdown() {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    cv_.notify_all();
  }
  // Blocks for the next job; nullopt once shut down and drained.
  std::optional<protocol::Job> Take() {
    std::unique_lock<std::mutex> lock(mu_);
    running_ = 0;
    cv_.wait(lock, [&] { return shutdown_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    protocol::Job job = std::move(queue_.front());
    queue_.pop_front();
    running_ = job.job_id;
    cancel_ = cancelled_.erase(job.job_id) > 0;
    return job;
  }
  const std::atomic<bool>& cancel_flag() const { return cancel_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<protocol::Job> queue_;
  std::set<uint64_t> cancelled_;
  uint64_t running_ = 0;
  std::atomic<bool> cancel_{false};
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
  eo.threads = o.threads;
  eo.gpu_layers = o.gpu_layers;
  eo.device = o.device;
  eo.chaos_tokens_per_second = o.chaos_tokens_per_second;
  eo.chaos_load_ms = o.chaos_load_ms;
  eo.image_cache_mb = o.image_cache_mb;
  const auto start = std::chrono::steady_clock::now();
  Result<protocol::ModelFacts> facts = engine.Load(eo, [&state] { state.Advance(); });
  if (!facts) return facts.error();
  protocol::Loaded loaded;
  loaded.load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  loaded.model = std::move(*facts);
  return loaded;
}

}  // namespace

int RunWorker(const WorkerOptions& options, WorkerState& state) {
  Channel channel(options.fd);
  std::unique_ptr<Engine> engine = MakeEngine(options.engine);
  channel.Send(protocol::ToFrame(protocol::Hello{protocol::kProtocolVersion, options.engine, ::getpid()}));
  state.phase = Phase::kLoad;
  Heartbeat heartbeat(channel, state, kHeartbeatPeriod);
  heartbeat.Start();

  Result<protocol::Loaded> loaded = Load(*engine, options, state, channel);
  if (!loaded) {
    std::fprintf(stderr, "vigil-worker: load failed: %s\n", loaded.error().message.c_str());
    heartbeat.Stop();
    channel.Send(protocol::ToFrame(protocol::Failed{0, loaded.error().code, loaded.error().message}));
    return protocol::kExitFatalConfig;
  }
  std::fprintf(stderr, "vigil-worker: loaded %s in %.0f ms\n", loaded->model.name.c_str(),
               loaded->load_ms);
  state.phase = Phase::kIdle;
  channel.Send(protocol::ToFrame(*loaded));

  Inbox inbox;
  std::thread reader([&] { ReadFrames(channel, inbox); });
  JobContext ctx{channel, state, *engine, options, inbox.cancel_flag()};
  while (std::optional<protocol::Job> job = inbox.Take()) {
    RunJob(*job, ctx);
    state.phase = Phase::kIdle;
    state.job_id = 0;
  }
  reader.join();
  heartbeat.Stop();
  return protocol::kExitClean;
}

}  // namespace vigil::worker
