// snapshot.h: the supervisor's state at one moment, as plain values.
//
// Dispatcher::Snapshot returns one; the front renders it (the /v1/workers
// JSON body and the supervisor's part of /metrics, front/status_render.h).
// The supervisor builds no HTTP body and writes no exposition format: it
// states facts, the front chooses their shape.
//
// The name tables below are the supervisor's vocabulary: every slot state
// and every restart cause, in the order /metrics lists them (a metric shows
// each one, 0 included, so a dashboard sees a series before its first event).
//
// Thread-safety: plain values; a snapshot is a copy and stays valid after the
// supervisor moves on.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.h"
#include "supervisor/crash_report.h"

namespace vigil::supervisor {

// Slot states as /v1/workers and /metrics name them: a live worker's state
// (worker_handle.h) or the slot's own (restarting, held, failed, stopped).
inline constexpr std::array<std::string_view, 10> kSlotStateNames = {
    "starting", "loading", "idle", "busy", "stopping", "dead", "restarting", "held", "failed", "stopped"};

// Causes of unexpected worker exits (CrashReport::cause), plus "clean".
inline constexpr std::array<std::string_view, 10> kRestartCauseNames = {
    "signal", "exit", "oom", "hung", "protocol_error", "cancel_timeout", "fatal_config",
    "load_out_of_memory", "spawn_failed", "clean"};

struct Readiness {
  bool ready = false;
  std::string reason;  // why not, e.g. "no worker loaded (2 restarting)", "draining"
};

// The live worker process of a slot.
struct WorkerSnapshot {
  int64_t pid = 0;
  std::vector<std::string> command;  // what was executed, argv[0] first
  double uptime_s = 0;
  std::string phase;         // last heartbeat phase
  int capacity = 1;          // jobs it may run at once
  int running_jobs = 0;
  int protocol = 0;          // protocol version it spoke; 0: not known yet
  std::vector<JobTag> jobs;  // running now, oldest first
  std::optional<protocol::Loaded> loaded;  // load time and model facts, once loaded
};

struct SlotSnapshot {
  int slot = 0;
  std::string state;         // one of kSlotStateNames
  int incarnation = 0;
  bool spare = false;
  int64_t jobs_served = 0;
  int64_t restarts = 0;
  std::string reason;        // why held or failed; may be empty
  std::string device;        // --device given to its workers; empty: the worker's default
  std::optional<double> restart_in_s;  // restarting or held: seconds until the next spawn
  bool reserved = false;     // its worker is kept for an exclusive job
  std::optional<WorkerSnapshot> worker;
  std::vector<CrashReport> recent_crashes;  // newest first
};

struct SupervisorSnapshot {
  std::string model;                  // the served model's name
  Readiness readiness;
  bool draining = false;
  std::vector<SlotSnapshot> slots;
  std::map<std::string, int64_t> restarts_by_cause;  // causes seen so far
  double last_kill_to_reap_ms = -1;   // -1: no SIGKILL reaped yet
  int64_t queue_depth = 0;
  int64_t jobs_running = 0;
  int64_t job_retries = 0;
  int64_t inputs_quarantined = 0;     // in quarantine now
  int64_t inputs_quarantined_total = 0;
  std::map<std::string, int64_t> jobs_by_outcome;  // ErrorCode wire name or "ok"
};

}  // namespace vigil::supervisor
