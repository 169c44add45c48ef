#include "supervisor/pool.h"

#include <algorithm>
#include <cstdio>

#include <boost/asio/post.hpp>

namespace vigil::supervisor {

namespace asio = boost::asio;

namespace {

// Round-robin over the list; "auto" becomes "auto:<slot>" (the worker picks
// its GPU by slot among the GPUs it sees).
std::string SlotDevice(const std::vector<std::string>& devices, int slot) {
  if (devices.empty()) return {};
  const std::string& d = devices[static_cast<size_t>(slot) % devices.size()];
  return d == "auto" ? "auto:" + std::to_string(slot) : d;
}

}  // namespace

Pool::Pool(asio::io_context& io, const SupervisorOptions& options, PoolListener& listener,
           EventSink events)
    : io_(io), options_(options), listener_(listener), events_(std::move(events)), watcher_(io) {
  const int n = std::max(1, options.workers) + std::max(0, options.spare_workers);
  for (int i = 0; i < n; ++i) {
    auto slot = std::unique_ptr<Slot>(new Slot{
        .index = i,
        .device = SlotDevice(options.worker_devices, i),
        .policy = RestartPolicy(RestartLimits{
            .load_failures_before_hold = options.restart_intensity + 1,
            .hold = options.restart_period,
            .load_backoff_min = options.backoff_min,
            .load_backoff_max = options.backoff_max,
            .service_first_delay = options.service_restart_delay,
            .service_backoff_min = std::max(options.backoff_min, options.service_restart_delay),
            .service_backoff_max = options.service_backoff_max}),
        .timer = std::make_unique<asio::steady_timer>(io)});
    slots_.push_back(std::move(slot));
  }
}

Pool::~Pool() {
  *alive_ = false;
  for (auto& slot : slots_) {
    slot->timer->cancel();
    if (slot->worker) slot->worker->KillAndReapNow();
  }
}

void Pool::Start() {
  for (auto& slot : slots_) SpawnSlot(*slot);
}

void Pool::SpawnSlot(Slot& slot) {
  if (stopping_) return;
  WorkerHandle::Config config{
      .binary = options_.worker_binary,
      .args = options_.worker_args,
      .slot = slot.index,
      .incarnation = slot.incarnation,
      .hang = options_.hang,
      .kill_grace = options_.kill_grace,
      .address_space_limit = options_.worker_address_space_limit,
      .cgroups = options_.worker_cgroups,
      .cgroup_memory_max = options_.worker_cgroup_memory_max,
      .max_jobs = std::max(1, options_.jobs_per_worker),
      .events = events_,
  };
  config.hardening = options_.worker_hardening;
  if (options_.allow_fault_injection) config.args.push_back("--allow-fault-injection");
  // Only when asked: a worker built before protocol 2 rejects the flag
  // (exit 2, fatal configuration), and 1 is every worker's default.
  if (options_.jobs_per_worker > 1) {
    config.args.insert(config.args.end(), {"--jobs", std::to_string(options_.jobs_per_worker)});
  }
  if (!slot.device.empty()) config.args.insert(config.args.end(), {"--device", slot.device});
  slot.worker = std::make_shared<WorkerHandle>(io_, watcher_, *this, std::move(config));
  slot.state = SlotState::kRunning;
  slot.reason.clear();
  slot.failure = ErrorCode::kNotReady;
  slot.recent_images.clear();  // a new process: its embedding cache is empty
  slot.reserved = false;
  Status spawned = slot.worker->Spawn();
  if (!spawned.ok()) {
    events_(LogLevel::kError, "worker_spawn_failed",
            {{"slot", slot.index}, {"error", spawned.error().message}});
    slot.worker.reset();
    ExitInfo info{.cause = "spawn_failed", .detail = spawned.error().message};
    CrashReport report{.cause = info.cause, .detail = info.detail, .slot = slot.index,
                       .incarnation = slot.incarnation,
                       .time = std::chrono::system_clock::now()};
    RecordCrash(slot, report);
    ScheduleRestart(slot, info, &report);
  }
}

std::vector<Pool::Slot*> Pool::Serving() const {
  auto loaded = [](const Slot& slot) {
    const WorkerHandle* w = slot.worker.get();
    if (!w || w->killing()) return false;
    if (w->state() != WorkerState::kIdle && w->state() != WorkerState::kBusy) return false;
    // Its exit may still wait in the loop's queue: a job sent there would
    // be lost and charged to an input that did nothing.
    return !ChildWatcher::HasExited(w->pid());
  };
  const size_t regular = static_cast<size_t>(std::max(1, options_.workers));
  std::vector<Slot*> serving, spares;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot* slot = slots_[i].get();
    if (!loaded(*slot)) continue;
    (i < regular ? serving : spares).push_back(slot);
  }
  const size_t stand_ins = regular - std::min(regular, serving.size());
  std::stable_sort(spares.begin(), spares.end(), [](const Slot* a, const Slot* b) {
    return a->worker->running() > b->worker->running();
  });
  spares.resize(std::min(spares.size(), stand_ins));
  std::sort(spares.begin(), spares.end(), [](const Slot* a, const Slot* b) { return a->index < b->index; });
  serving.insert(serving.end(), spares.begin(), spares.end());
  return serving;
}

void Pool::RememberImage(Slot& slot, uint64_t image_key) {
  static constexpr size_t kRecentImages = 64;
  if (image_key == 0) return;
  std::erase(slot.recent_images, image_key);
  slot.recent_images.push_back(image_key);
  if (slot.recent_images.size() > kRecentImages) slot.recent_images.pop_front();
}

WorkerHandle* Pool::TakeWithRoom(const JobRouting& routing) {
  if (stopping_) return nullptr;
  Slot* best = nullptr;
  bool best_cached = false;
  for (Slot* slot : Serving()) {
    const WorkerHandle& w = *slot->worker;
    if (!w.HasRoom(routing.exclusive) || (slot->reserved && !routing.exclusive)) continue;
    const bool cached = routing.image_key != 0 &&
                        std::find(slot->recent_images.begin(), slot->recent_images.end(),
                                  routing.image_key) != slot->recent_images.end();
    const bool better = !best || (cached && !best_cached) ||
                        (cached == best_cached && w.running() < best->worker->running());
    if (better) {
      best = slot;
      best_cached = cached;
    }
  }
  if (!best) return nullptr;
  if (routing.exclusive) best->reserved = false;
  RememberImage(*best, routing.image_key);
  return best->worker.get();
}

bool Pool::ReserveForExclusive() {
  if (stopping_) return false;
  Slot* best = nullptr;
  for (Slot* slot : Serving()) {
    if (slot->reserved || slot->worker->running() == 0) continue;
    if (!best || slot->worker->running() < best->worker->running()) best = slot;
  }
  if (best) best->reserved = true;
  return best != nullptr;
}

int Pool::reservations() const {
  int n = 0;
  for (const Slot* slot : Serving()) n += slot->reserved ? 1 : 0;
  return n;
}

// A reservation on a worker that no longer serves (a spare whose regular
// slot is back, a worker being killed) would count without ever being
// usable: those end first.
void Pool::LimitReservations(int keep) {
  std::vector<Slot*> reserved;
  for (Slot* slot : Serving()) {
    if (slot->reserved) reserved.push_back(slot);
  }
  for (auto& slot : slots_) slot->reserved = false;
  std::stable_sort(reserved.begin(), reserved.end(), [](const Slot* a, const Slot* b) {
    return a->worker->running() < b->worker->running();
  });
  reserved.resize(std::min(reserved.size(), static_cast<size_t>(std::max(0, keep))));
  for (Slot* slot : reserved) slot->reserved = true;
}

WorkerHandle* Pool::WorkerAt(int slot) {
  if (slot < 0 || slot >= static_cast<int>(slots_.size())) return nullptr;
  return slots_[slot]->worker.get();
}

void Pool::StopAll(std::function<void()> done) {
  stopping_ = true;
  stop_done_ = std::move(done);
  for (auto& slot : slots_) {
    slot->timer->cancel();
    if (slot->worker && slot->worker->state() != WorkerState::kDead) {
      slot->worker->Stop();
    } else {
      slot->state = SlotState::kStopped;
    }
  }
  MaybeFinishStop();
}

void Pool::MaybeFinishStop() {
  if (!stopping_ || !stop_done_) return;
  for (auto& slot : slots_) {
    if (slot->worker && slot->worker->state() != WorkerState::kDead) return;
  }
  events_(LogLevel::kInfo, "pool_stopped", {{"workers", slots_.size()}});
  asio::post(io_, std::exchange(stop_done_, nullptr));
}

// ---- worker events ------------------------------------------------------------

void Pool::OnWorkerLoaded(WorkerHandle& w, const protocol::Loaded& loaded) {
  if (model_name_.empty()) model_name_ = loaded.model.name;
  slots_[w.slot()]->policy.OnLoaded();
  listener_.OnWorkerAvailable();
}

void Pool::OnJobProgress(WorkerHandle&, const protocol::Progress& progress) {
  listener_.OnJobProgress(progress.job_id, progress);
}

void Pool::OnJobPiece(WorkerHandle&, const protocol::Piece& piece) {
  listener_.OnJobPiece(piece.job_id, piece);
}

void Pool::OnJobDone(WorkerHandle& w, protocol::Done& done) {
  Slot& slot = *slots_[w.slot()];
  slot.jobs_served++;
  slot.policy.OnHealthy();
  listener_.OnJobDone(done.job_id, done);
  listener_.OnWorkerAvailable();
}

void Pool::OnJobFailed(WorkerHandle& w, const protocol::Failed& failed) {
  Slot& slot = *slots_[w.slot()];
  slot.jobs_served++;
  listener_.OnJobFailed(failed.job_id, failed);
  listener_.OnWorkerAvailable();
}

void Pool::RecordCrash(Slot& slot, const CrashReport& report) {
  slot.crashes.push_back(report);
  while (slot.crashes.size() > 5) slot.crashes.pop_front();
  restarts_by_cause_[report.cause]++;
  if (report.kill_to_reap_ms >= 0) last_kill_to_reap_ms_ = report.kill_to_reap_ms;
}

void Pool::OnWorkerExited(WorkerHandle& w, const ExitInfo& info, const CrashReport* report) {
  Slot& slot = *slots_[w.slot()];
  auto keep = slot.worker;  // w stays valid until we return
  const std::vector<JobTag> lost = w.RunningJobs();
  if (report) RecordCrash(slot, *report);
  slot.worker.reset();
  slot.reserved = false;
  if (stopping_) {
    slot.state = SlotState::kStopped;
  } else {
    ScheduleRestart(slot, info, report, w.load_error(), w.loaded().has_value());
  }
  if (!lost.empty()) {
    CrashReport base = report ? *report : CrashReport{.cause = info.cause, .detail = info.detail};
    base.jobs = lost;
    for (auto it = lost.rbegin(); it != lost.rend(); ++it) listener_.OnJobLost(it->job_id, base);
  }
  MaybeFinishStop();
}

void Pool::ScheduleRestart(Slot& slot, const ExitInfo& info, const CrashReport* report,
                           const std::optional<Error>& load_error, bool had_loaded) {
  const bool exec_failed = info.exit_code == 127 && report && report->state == "starting";
  if (load_error && load_error->code == ErrorCode::kOutOfMemory) return HoldForMemory(slot, info, *load_error);
  // The worker's own last word (its typed load error, else its last output
  // line) tells the operator why, e.g. a ModuleNotFoundError.
  std::string last = report && !report->stderr_tail.empty() ? report->stderr_tail.back() : "";
  if (load_error) last = std::string(WireName(load_error->code)) + ": " + load_error->message;
  if (last.size() > 300) last = last.substr(0, 300) + "...";
  if (info.cause == "fatal_config" || exec_failed) {
    slot.state = SlotState::kFailed;
    // slot.failure stays not_ready (SpawnSlot set it): a worker's
    // invalid_request here is the operator's bad flag, not the client's.
    slot.reason = "worker " + info.detail + (exec_failed ? " (could not start)" : "") +
                  (last.empty() ? "" : ": " + last);
    events_(LogLevel::kError, "worker_abandoned", {{"slot", slot.index}, {"reason", slot.reason}});
    if (!AnyCanServeSoon()) listener_.OnPoolUnavailable();
    return;
  }
  const TimePoint now = Clock::now();
  // restart_policy.h: a crash in service restarts at once and is never held;
  // a crash at load backs off and, in a loop, holds the slot.
  const auto death = had_loaded ? RestartPolicy::Death::kInService : RestartPolicy::Death::kAtLoad;
  auto decision = slot.policy.OnExit(now, death);
  slot.incarnation++;
  slot.restarts++;
  slot.restart_at = decision.at;
  if (decision.hold) {
    slot.state = SlotState::kHeld;
    char hold_s[32];
    std::snprintf(hold_s, sizeof hold_s, "%.0f", Seconds(decision.at - now));
    slot.reason = "crash loop at load (restart intensity exceeded): " + std::to_string(decision.load_failures) +
                  " loads in a row failed (a broken model, driver or flag?); next attempt in " +
                  hold_s + " s; last: " + info.detail;
    // A worker that exited said why in its last line (a Python traceback
    // ends with the exception); one killed by a signal ends in a backtrace
    // frame, and the signal already says more.
    if (info.cause != "signal" && !last.empty()) slot.reason += " (" + last + ")";
    events_(LogLevel::kError, "worker_restarts_held",
            {{"slot", slot.index}, {"reason", slot.reason}, {"load_failures", decision.load_failures},
             {"hold_s", Seconds(decision.at - now)}});
    if (!AnyCanServeSoon()) listener_.OnPoolUnavailable();
  } else {
    slot.state = SlotState::kRestarting;
    events_(LogLevel::kInfo, "worker_restart_scheduled",
            {{"slot", slot.index}, {"in_ms", Seconds(decision.at - now) * 1000},
             {"cause", info.cause}, {"at_load", !had_loaded}});
  }
  slot.timer->expires_at(decision.at);
  slot.timer->async_wait([this, &slot, hold = decision.hold,
                          alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || !alive.lock() || stopping_) return;
    if (hold) slot.policy.OnHoldEnded();
    SpawnSlot(slot);
  });
}

// The model did not fit the device's free memory. Not a crash loop: the
// slot waits options_.oom_retry, since memory another process holds may be
// freed, then loads once more; meanwhile requests get out_of_memory at once.
void Pool::HoldForMemory(Slot& slot, const ExitInfo& info, const Error& load_error) {
  const TimePoint now = Clock::now();
  slot.state = SlotState::kHeld;
  slot.failure = ErrorCode::kOutOfMemory;
  slot.incarnation++;
  slot.restarts++;
  slot.restart_at = now + options_.oom_retry;
  char retry[32];
  std::snprintf(retry, sizeof retry, "%.1f", Seconds(options_.oom_retry));
  slot.reason = "worker " + info.detail + ": out_of_memory: " + load_error.message +
                "; next load attempt in " + retry + " s";
  events_(LogLevel::kError, "worker_held_for_memory",
          {{"slot", slot.index}, {"reason", load_error.message},
           {"retry_in_s", Seconds(options_.oom_retry)}});
  if (!AnyCanServeSoon()) listener_.OnPoolUnavailable();
  slot.timer->expires_at(slot.restart_at);
  slot.timer->async_wait([this, &slot, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || !alive.lock() || stopping_) return;
    SpawnSlot(slot);
  });
}

}  // namespace vigil::supervisor
