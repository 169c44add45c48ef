// crash_report.h: the evidence kept when a worker dies unasked.
//
// One report per unexpected worker exit: what killed it, what it was doing,
// which input it was working on, and its last words on stderr. The pool
// keeps the last few per slot; /v1/workers shows them.
//
// Thread-safety: plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vigil::supervisor {

struct CrashReport {
  std::string cause;        // signal | exit | oom | hung | protocol_error | cancel_timeout | fatal_config | load_out_of_memory | spawn_failed
  int signal = 0;           // 0 unless a signal ended it
  std::string signal_name;  // "SIGSEGV"
  int exit_code = -1;       // -1 unless it exited
  std::string detail;       // "killed by signal 11 (SIGSEGV)" or the hang/protocol sentence
  std::vector<std::string> stderr_tail;
  std::string state;        // worker state when it died: loading | idle | busy | ...
  std::string phase;        // last heartbeat phase: load | prefill | decode | ...
  uint64_t job_id = 0;      // 0: no job
  std::string request_id;
  std::string fingerprint;
  int slot = 0;
  int incarnation = 0;
  int64_t pid = 0;
  double uptime_s = 0;
  double kill_to_reap_ms = -1;  // when the supervisor sent the SIGKILL: how long until reaped
  std::chrono::system_clock::time_point time;
};

nlohmann::json ToJson(const CrashReport& report);

}  // namespace vigil::supervisor
