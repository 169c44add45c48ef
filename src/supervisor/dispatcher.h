// dispatcher.h: the seam between the HTTP front and the supervisor.
//
// The front parses and validates a request, then hands the supervisor a
// JobSpec and an observer. The supervisor owns the job from then on: it
// queues it, runs it on a worker, retries it when a worker dies, enforces its
// deadline, and reports back through the observer.
//
// Contract:
// - Everything runs on the one event-loop thread (the io_context the
//   supervisor and the front share). No method blocks.
// - For each Submit, exactly one of OnDone / OnFailed is called, exactly once,
//   unless Cancel(id) was called first, after which no callback comes at all.
//   Callbacks may come from inside Submit (e.g. overloaded, quarantined).
// - OnPiece carries only text the client has not seen: when a job is replayed
//   after a worker died mid-stream, the prefix already delivered is skipped.
// - The terminal callback comes no later than the job's deadline plus a small
//   grace (ErrorCode::kTimeout at the deadline).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "protocol/messages.h"
#include "supervisor/snapshot.h"

namespace vigil::supervisor {

using JobId = uint64_t;

struct JobSpec {
  std::string prompt;  // text-only view; the whole user turn when messages is empty
  // The chat conversation, its image parts referring to images in order;
  // empty: one user turn holding every image, then prompt.
  std::vector<protocol::ChatMessage> messages;
  std::vector<std::string> images;  // encoded image bytes, each already sniffed; may be empty
  protocol::SamplingParams params;
  std::optional<protocol::FaultSpec> fault;  // set only with --allow-fault-injection
  bool fault_on_every_attempt = false;       // else the fault applies to attempt 1 only
  // false: the client sees nothing before OnDone, so a crash after some
  // pieces still allows a fresh retry (pieces are passed on only for
  // time-to-first-token); true: delivered text constrains a retry (replay).
  bool streaming = true;
  std::chrono::milliseconds timeout{0};      // 0: the server's --request-timeout; never more
  std::string route;                         // "/analyze", "/v1/chat/completions": logs
  std::string request_id;                    // for logs and crash reports
};

class JobObserver {
 public:
  virtual ~JobObserver() = default;
  virtual void OnProgress(const protocol::Progress& /*progress*/) {}
  virtual void OnPiece(std::string_view text) = 0;
  // attempts: how many workers ran the job (1 when no retry was needed).
  virtual void OnDone(const protocol::Done& done, int attempts) = 0;
  // retryable: false when a client retry cannot help (retries exhausted,
  // quarantined input, invalid input); the front then sends x-should-retry: false.
  virtual void OnFailed(const Error& error, int attempts, bool retryable) = 0;
};

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual JobId Submit(JobSpec spec, std::shared_ptr<JobObserver> observer) = 0;
  // The client went away: stop the job, free its worker. Idempotent.
  virtual void Cancel(JobId id) = 0;
  virtual Readiness GetReadiness() const = 0;
  // The supervisor's state now (workers, queue, restarts, retries,
  // quarantine, job outcomes), as plain values: the front renders it as the
  // /v1/workers body and in /metrics (front/status_render.h).
  virtual SupervisorSnapshot Snapshot() const = 0;
  // Model name shown by /v1/models and in responses.
  virtual std::string ModelName() const = 0;
  // Stop taking jobs; call done once in-flight jobs ended or grace passed,
  // after the workers were stopped.
  virtual void Drain(std::chrono::milliseconds grace, std::function<void()> done) = 0;
};

}  // namespace vigil::supervisor
