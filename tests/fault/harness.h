// harness.h: drives a real Supervisor on a private io_context.
//
// Tests wait for events, never sleep: RunUntil runs the loop until a
// predicate holds or a bound passes. TestObserver records every callback so
// a test can assert "exactly one terminal outcome".
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "front/status_render.h"
#include "supervisor/supervisor.h"

namespace vigil::supervisor::testing {

struct Outcome {
  int terminal_calls = 0;  // OnDone + OnFailed
  bool ok = false;
  std::string text;        // concatenated pieces
  std::string done_text;
  Error error;
  int attempts = 0;
  int64_t completion_tokens = 0;  // from done
  bool retryable = true;
  bool ended() const { return terminal_calls > 0; }
};

class TestObserver : public JobObserver {
 public:
  explicit TestObserver(std::shared_ptr<Outcome> out) : out_(std::move(out)) {}
  void OnPiece(std::string_view text) override { out_->text += text; }
  void OnDone(const protocol::Done& done, int attempts) override {
    out_->terminal_calls++;
    out_->ok = true;
    out_->done_text = done.text;
    out_->completion_tokens = done.usage.completion_tokens;
    out_->attempts = attempts;
  }
  void OnFailed(const Error& error, int attempts, bool retryable) override {
    out_->terminal_calls++;
    out_->error = error;
    out_->attempts = attempts;
    out_->retryable = retryable;
  }

 private:
  std::shared_ptr<Outcome> out_;
};

// The supervisor's state as clients read it: the /v1/workers body (without
// the route's "tuning") and the supervisor's part of /metrics, rendered by
// the front from Snapshot().
inline nlohmann::json WorkersJson(const Dispatcher& d) { return front::WorkersJson(d.Snapshot()); }
inline std::string MetricsText(const Dispatcher& d) {
  std::string out;
  front::PrometheusWriter writer(out);
  front::WriteSupervisorMetrics(writer, d.Snapshot());
  return out;
}

// VIGIL_TEST_WORKER_BINARY overrides the built worker (e.g. a sanitizer
// build of the supervisor driving a plain worker).
inline std::string WorkerBinary() {
  const char* env = std::getenv("VIGIL_TEST_WORKER_BINARY");
  return env && *env ? env : VIGIL_WORKER_BINARY;
}
inline std::string FakeWorkerBinary() { return VIGIL_FAKE_WORKER_BINARY; }

// Options for the chaos engine with tiny time limits, so every hang and
// deadline path runs in well under a second.
inline SupervisorOptions ChaosOptions(int workers = 1) {
  SupervisorOptions o;
  o.worker_binary = WorkerBinary();
  o.worker_args = {"--engine", "chaos", "--chaos-tokens-per-second", "2000", "--chaos-load-ms", "5"};
  o.workers = workers;
  o.allow_fault_injection = true;
  o.request_timeout = std::chrono::milliseconds(10000);
  o.backoff_min = std::chrono::milliseconds(1);
  o.backoff_max = std::chrono::milliseconds(20);
  o.kill_grace = std::chrono::milliseconds(200);
  o.hang.load = std::chrono::milliseconds(3000);
  o.hang.image_encode = std::chrono::milliseconds(600);
  o.hang.prefill = std::chrono::milliseconds(600);
  o.hang.decode = std::chrono::milliseconds(600);
  o.hang.heartbeat = std::chrono::milliseconds(600);
  o.worker_address_space_limit = int64_t{384} << 20;  // the oom fault ends here, fast, not in the kernel
  o.model_name = "chaos";
  return o;
}

class Harness {
 public:
  explicit Harness(SupervisorOptions options, bool start = true) {
    options.event_listener = [this](std::string_view event, const nlohmann::json& fields) {
      events.emplace_back(std::string(event), fields);
      if (on_event) on_event(event, fields);
    };
    sup = MakeSupervisor(io, std::move(options));
    if (start) sup->Start();
  }

  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      if (io.stopped()) io.restart();
      io.run_one_for(deadline - now);
    }
    return true;
  }

  bool WaitReady(std::chrono::milliseconds bound = std::chrono::milliseconds(5000)) {
    return RunUntil([&] { return sup->GetReadiness().ready; }, bound);
  }

  int CountEvents(const std::string& name) const {
    int n = 0;
    for (const auto& [e, f] : events) n += e == name;
    return n;
  }
  bool WaitEvents(const std::string& name, int count,
                  std::chrono::milliseconds bound = std::chrono::milliseconds(5000)) {
    return RunUntil([&] { return CountEvents(name) >= count; }, bound);
  }

  std::shared_ptr<Outcome> Submit(JobSpec spec, JobId* id = nullptr) {
    auto out = std::make_shared<Outcome>();
    JobId got = sup->Submit(std::move(spec), std::make_shared<TestObserver>(out));
    if (id) *id = got;
    return out;
  }

  bool WaitEnded(const std::shared_ptr<Outcome>& out,
                 std::chrono::milliseconds bound = std::chrono::milliseconds(5000)) {
    return RunUntil([&] { return out->ended(); }, bound);
  }

  boost::asio::io_context io;
  std::unique_ptr<Supervisor> sup;
  std::vector<std::pair<std::string, nlohmann::json>> events;
  std::function<void(std::string_view, const nlohmann::json&)> on_event;
};

inline JobSpec Prompt(std::string prompt, int max_tokens = 8) {
  JobSpec s;
  s.prompt = std::move(prompt);
  s.params.max_tokens = max_tokens;
  s.request_id = "req-" + s.prompt;
  return s;
}

inline JobSpec WithFault(JobSpec s, std::string kind, std::string at = "before_first_token",
                         int after_tokens = 0, bool every_attempt = false) {
  s.fault = protocol::FaultSpec{.kind = std::move(kind), .at = std::move(at),
                                .after_tokens = after_tokens, .exit_code = 1};
  s.fault_on_every_attempt = every_attempt;
  return s;
}

inline std::string ListOpenFds() {
  std::string out;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      char target[256] = {};
      std::string path = std::string("/proc/self/fd/") + e->d_name;
      ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
      out += std::string(e->d_name) + "->" + (n > 0 ? std::string(target, n) : "?") + " ";
    }
    closedir(d);
  }
  return out;
}

inline int CountOpenFds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

}  // namespace vigil::supervisor::testing
