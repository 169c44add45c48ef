// worker_state.h: what the worker is doing right now, readable from any
// thread and from a signal handler.
//
// The main thread (the one running the engine) writes phase and job id:
// what it computes right now and for which job (with several jobs running,
// the one whose work is in the current step; for a decode step shared by
// all generating jobs, the oldest of them; 0 when idle). The
// engine bumps `progress` whenever it really advances (a decoded token, a
// prefill batch, an image-encode step, a load step). The heartbeat thread
// reports all three every 100 ms, so the supervisor can tell a hung engine
// (heartbeats arrive, progress frozen) from a stopped process (no heartbeats).
// The crash handler reads phase and job id for its report.
//
// Thread-safety: lock-free atomics only (signal-safe on every platform we
// build for; the static_asserts in worker_state.cc check it).
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace vigil::worker {

enum class Phase : uint8_t { kIdle, kLoad, kImageDecode, kImageEncode, kPrefill, kDecode };

// Wire name: idle | load | image_decode | image_encode | prefill | decode.
// Returns a string literal (safe to use in a signal handler).
const char* PhaseName(Phase phase);

struct WorkerState {
  std::atomic<Phase> phase{Phase::kLoad};
  std::atomic<uint64_t> job_id{0};  // 0 when idle
  std::atomic<uint64_t> progress{0};

  void Advance() { progress.fetch_add(1, std::memory_order_relaxed); }
};

}  // namespace vigil::worker
