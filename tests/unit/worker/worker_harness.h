// worker_harness.h: runs the real vigil-worker binary over a socketpair, the
// way the supervisor does, for the process tests. Every wait is bounded and
// waits for the event (a frame, an exit), never for a fixed sleep.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"

namespace vigil::testing {

using std::chrono::milliseconds;

std::string WorkerBinary();
// Model pair paths; empty when the files are missing.
std::string TinyModel();
std::string TinyMmproj();

class WorkerProcess {
 public:
  // Spawns vigil-worker --fd N <args>. address_space > 0 sets RLIMIT_AS.
  explicit WorkerProcess(const std::vector<std::string>& args, rlim_t address_space = 0);
  ~WorkerProcess();  // SIGKILLs and reaps a worker still running
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const { return pid_; }

  // The next frame: nullopt on EOF or timeout (eof() tells which); an error
  // when the worker wrote a malformed frame.
  Result<std::optional<protocol::Frame>> Next(milliseconds timeout = milliseconds(10000));
  // The next frame that is not a heartbeat (heartbeats are kept). Fails the
  // test on a malformed frame; nullopt on EOF or timeout.
  std::optional<protocol::Frame> NextMessage(milliseconds timeout = milliseconds(10000));
  // Reads Hello then Loaded; false (with test failures) if they do not come.
  bool Handshake(protocol::Loaded* loaded = nullptr);

  void Send(const protocol::Frame& frame);
  void SendRaw(const std::string& bytes);
  void CloseSocket();  // the supervisor's end: the worker sees EOF

  // Wait status once the worker exited, nullopt if still running at timeout.
  std::optional<int> WaitExit(milliseconds timeout = milliseconds(10000));
  bool Alive();
  std::string Stderr() const;
  bool eof() const { return eof_; }

  std::vector<protocol::Heartbeat> heartbeats;

 private:
  pid_t pid_ = -1;
  int sock_ = -1;
  int pidfd_ = -1;
  std::string stderr_path_;
  protocol::FrameDecoder decoder_;
  bool eof_ = false;
  std::optional<int> status_;
};

// A Job frame.
protocol::Frame JobFrame(uint64_t id, const std::string& prompt, int64_t max_tokens,
                         std::string image = {}, std::optional<protocol::FaultSpec> fault = {},
                         std::vector<std::string> stop = {});

// Collects Progress/Piece frames up to the terminal Done or Failed.
struct JobResult {
  std::vector<protocol::Progress> progress;
  std::vector<std::string> pieces;
  std::optional<protocol::Done> done;
  std::optional<protocol::Failed> failed;
};
JobResult CollectJob(WorkerProcess& worker, milliseconds timeout = milliseconds(20000));

// Collects the frames of `n` jobs running at once, by job id, until each
// has its terminal frame. `order` (optional) gets the job ids of terminal
// frames in arrival order. Fails the test on a second terminal frame for a
// job, or on a frame for a job that already ended.
std::map<uint64_t, JobResult> CollectJobs(WorkerProcess& worker, size_t n,
                                          std::vector<uint64_t>* order = nullptr,
                                          milliseconds timeout = milliseconds(30000));

}  // namespace vigil::testing
