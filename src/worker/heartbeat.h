// heartbeat.h: a thread that reports WorkerState to the supervisor every
// period (100 ms in production), idle or busy, from Start() until Stop().
//
// It deliberately does not look at whether the engine is healthy: it only
// copies phase, job and the progress counter, and the supervisor judges.
//
// Thread-safety: Start/Stop from one thread (the main thread).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "worker/channel.h"
#include "worker/worker_state.h"

namespace vigil::worker {

class Heartbeat {
 public:
  Heartbeat(Channel& channel, const WorkerState& state, std::chrono::milliseconds period)
      : channel_(channel), state_(state), period_(period) {}
  ~Heartbeat() { Stop(); }
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  void Start();
  void Stop();

 private:
  void Loop();

  Channel& channel_;
  const WorkerState& state_;
  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace vigil::worker
