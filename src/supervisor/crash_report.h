// crash_report.h: the evidence kept when a worker dies unasked.
//
// One report per unexpected worker exit: what killed it, what it was doing,
// every job it was running (a batched worker runs several: each is named
// with its own evidence), and its last words on stderr. The pool keeps the
// last few per slot; /v1/workers shows them (front/status_render.h).
//
// Thread-safety: plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace vigil::supervisor {

// What the supervisor knows about a job a worker runs (for routing, crash
// reports and quarantine).
struct JobTag {
  uint64_t job_id = 0;
  std::string request_id;
  std::string fingerprint;
  bool exclusive = false;  // the only job in its worker until it ends
};

struct CrashReport {
  std::string cause;        // signal | exit | oom | sandbox_violation | hung | protocol_error | cancel_timeout | fatal_config | load_out_of_memory | spawn_failed
  int signal = 0;           // 0 unless a signal ended it
  std::string signal_name;  // "SIGSEGV"
  int exit_code = -1;       // -1 unless it exited
  std::string detail;       // "killed by signal 11 (SIGSEGV)" or the hang/protocol sentence
  std::vector<std::string> stderr_tail;
  std::string state;        // worker state when it died: loading | idle | busy | ...
  std::string phase;        // last heartbeat phase: load | prefill | decode | ...
  // Every job the worker was running, oldest first. A crash with one job in
  // the worker is evidence against that job's input; with several, against
  // none of them in particular (supervisor_impl.h, suspects).
  std::vector<JobTag> jobs;
  // The job when exactly one ran (the sole suspect); else 0 and empty.
  uint64_t job_id = 0;
  std::string request_id;
  std::string fingerprint;
  int slot = 0;
  int incarnation = 0;
  int64_t pid = 0;
  double uptime_s = 0;
  double kill_to_reap_ms = -1;  // when the supervisor sent the SIGKILL: how long until reaped
  std::chrono::system_clock::time_point time;
};

}  // namespace vigil::supervisor
