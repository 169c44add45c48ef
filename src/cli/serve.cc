#include "cli/serve.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "cli/paths.h"
#include "cli/tuning.h"
#include "cli/worker_command.h"
#include "cli/worker_limits.h"
#include "common/log.h"
#include "front/router.h"
#include "front/server.h"
#include "supervisor/supervisor.h"

namespace vigil::cli {
namespace {

// The engine name of a --worker-command program (until its hello names it).
constexpr const char* kExternalEngine = "external";

std::chrono::milliseconds Ms(double seconds) { return std::chrono::milliseconds(int64_t(seconds * 1000)); }

// The embedded default model when --model is not given (llama engine);
// the model files' size (tuning and the memory limit use it).
Status ResolveModel(ServeOptions& o) {
  if (o.model.empty() && o.engine == "llama") {
    auto m = FindDefaultModel();
    if (!m) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "no --model given and no default model found (models/default/ or the build's "
                       "models/vigil-tiny-*.gguf)");
    }
    o.model = m->text;
    o.mmproj = m->mmproj;
    LogInfo("default_model_chosen", {{"model", o.model}, {"mmproj", o.mmproj}});
  }
  for (const std::string* path : {&o.model, &o.mmproj}) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(*path, ec);
    if (!ec) o.model_bytes += static_cast<int64_t>(n);
  }
  return OkStatus();
}

// Fills workers, jobs, threads and spares the user left unset (tuning.h)
// and says what was chosen.
void ApplyTuning(ServeOptions& o) {
  TuningRequest r{o.workers, o.jobs, o.threads, o.spare_workers, o.gpu_layers, o.model_bytes};
  const Machine machine = ProbeMachine(WorkerBinary(), o.engine == "llama" && o.gpu_layers != 0);
  const Tuning t = ChooseTuning(machine, r);
  o.gpu_present = !machine.gpus.empty() && o.gpu_layers != 0;
  o.workers = t.workers;
  o.jobs = t.jobs;
  o.threads = t.threads;
  o.spare_workers = t.spare_workers;
  LogInfo("tuning_chosen", {{"workers", o.workers}, {"jobs_per_worker", o.jobs}, {"threads_per_worker", o.threads},
                            {"spare_workers", o.spare_workers}, {"chosen_from", t.basis},
                            {"override", "--workers/--jobs/--threads/--spare-workers"}});
  o.front.tuning = {{"workers", o.workers}, {"jobs_per_worker", o.jobs}, {"threads_per_worker", o.threads},
                    {"spare_workers", o.spare_workers}, {"chosen_from", t.basis},
                    {"set_by_flags", nlohmann::json::array()}};
  for (const auto& [flag, set] : {std::pair{"--workers", r.workers > 0}, {"--jobs", r.jobs > 0},
                                  {"--threads", r.threads > 0}, {"--spare-workers", r.spare_workers >= 0}}) {
    if (set) o.front.tuning["set_by_flags"].push_back(flag);
  }
}

// Engine and model flags passed through to every vigil-worker.
Result<std::vector<std::string>> WorkerArgs(ServeOptions& o) {
  std::vector<std::string> args;
  if (o.engine != kExternalEngine) args = {"--engine", o.engine};
  if (!o.model.empty()) args.insert(args.end(), {"--model", o.model});
  if (!o.mmproj.empty()) args.insert(args.end(), {"--mmproj", o.mmproj});
  args.insert(args.end(), {"--ctx", std::to_string(o.ctx), "--max-image-pixels",
                           std::to_string(o.front.limits.max_image_pixels)});
  if (o.threads > 0) args.insert(args.end(), {"--threads", std::to_string(o.threads)});
  if (o.gpu_layers >= 0) args.insert(args.end(), {"--gpu-layers", std::to_string(o.gpu_layers)});
  if (o.engine == "llama") args.insert(args.end(), {"--image-cache-mb", std::to_string(o.image_cache_mb)});
  if (!o.model_name.empty()) args.insert(args.end(), {"--model-name", o.model_name});
  if (!o.worker_fault_at_load.empty()) {
    if (!o.front.allow_fault_injection) {
      return MakeError(ErrorCode::kInvalidRequest, "--worker-fault-at-load needs --allow-fault-injection");
    }
    args.insert(args.end(), {"--fault-at-load", o.worker_fault_at_load});
  }
  // A cgroup v2 per worker where we may create one (memory_cgroup.h), else RLIMIT_AS.
  std::string why_not_cgroup;
  if (o.worker_memory_limit_mb != 0) {
    auto cgroups = supervisor::WorkerCgroups::CreateForThisProcess();
    if (cgroups.ok()) o.worker_cgroups = *cgroups;
    else why_not_cgroup = cgroups.error().message;
  }
  const WorkerLimits limits = ChooseWorkerLimits(
      {.user = o.worker_user, .memory_limit_mb = o.worker_memory_limit_mb, .gpu = o.gpu_present,
       .processes = std::max(1, o.workers) + std::max(0, o.spare_workers),
       .model_bytes = o.model_bytes, .cgroup_v2 = o.worker_cgroups != nullptr,
       .cgroup_v2_why_not = why_not_cgroup, .external = !o.worker_command.empty()},
      ::geteuid() == 0, static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE));
  args.insert(args.end(), limits.args.begin(), limits.args.end());
  o.worker_memory_limit_mb = limits.memory_limit_mb;
  if (limits.memory_mechanism != "cgroup_v2") o.worker_cgroups.reset();
  LogInfo("sandbox_chosen", {{"summary", limits.summary}});
  nlohmann::json memory = {{"mib", limits.memory_limit_mb}, {"mechanism", limits.memory_mechanism}};
  if (o.worker_cgroups) {
    memory["cgroup"] = o.worker_cgroups->base();
    // A supervisor that moved itself into its supervisor/ child did so
    // because cgroup v2 puts no process beside child cgroups.
    LogInfo("worker_cgroups_created", {{"base", o.worker_cgroups->base()},
                                       {"supervisor_moved", o.worker_cgroups->moved_supervisor()}});
  } else if (!why_not_cgroup.empty()) {
    memory["cgroup_v2_unavailable"] = why_not_cgroup;
  }
  o.front.tuning["worker_memory_limit"] = std::move(memory);
  return args;
}

// --worker-command: its program runs instead of vigil-worker, with the same
// flags after its own words, and the sandbox applied before exec
// (worker_command.h): the user vigil-worker would switch to after load
// (--user in args) becomes the program's user from the start.
Status UseWorkerCommand(const ServeOptions& o, std::vector<std::string> args,
                        supervisor::SupervisorOptions& so) {
  const char* path = std::getenv("PATH");
  auto command = ParseWorkerCommand(o.worker_command, path ? path : "/usr/bin:/bin");
  if (!command) return command.error();
  std::string user;
  if (auto it = std::find(args.begin(), args.end(), "--user"); it != args.end() && it + 1 != args.end()) {
    user = *(it + 1);
    args.erase(it, it + 2);
  }
  auto hardening = ExternalWorkerHardening(user);
  if (!hardening) return hardening.error();
  so.worker_binary = command->program;
  so.worker_args = command->args;
  so.worker_args.insert(so.worker_args.end(), args.begin(), args.end());
  so.worker_hardening = *hardening;
  const char* pythonpath = std::getenv("PYTHONPATH");
  if (auto denied = PathsTheWorkerUserCannotReach(*hardening, *command, pythonpath ? pythonpath : "");
      !denied.empty()) {
    LogWarn("worker_user_cannot_reach", {{"user", user}, {"paths", denied},
                                         {"hint", "make each directory above them searchable (o+x) and the "
                                                  "files readable, or choose another --worker-user"}});
  }
  LogInfo("worker_command_chosen", {{"program", command->program},
                                    {"user", user.empty() ? std::string("the supervisor's user") : user},
                                    {"no_new_privs", true}, {"max_open_files", hardening->max_open_files},
                                    {"network_namespace", "where permitted"}});
  return OkStatus();
}

std::string ModelName(const ServeOptions& o) {
  if (!o.model_name.empty()) return o.model_name;
  if (o.model.empty()) return o.engine;
  std::string name = o.model.substr(o.model.find_last_of('/') + 1);
  if (name.ends_with(".gguf")) name.resize(name.size() - 5);
  return name;
}

// SIGTERM and SIGINT stop the server the way process managers expect
// (docs/operations.md):
// - the first one drains: /ready answers 503 at once, new requests get 503
//   with Retry-After, in-flight ones run to their end within --drain-grace,
//   the workers are stopped, the connections close once their responses are
//   written, and the process exits 0;
// - a repeat within kSameStop of the first is the same stop request: the
//   launcher (./vigil forwards what it gets) and a process manager that
//   signals every process of a group (systemd's KillMode=control-group, a
//   terminal's Ctrl-C) both deliver it;
// - a later one stops at once: what is left ends with a typed not_ready
//   error, then the process exits 0.
class StopOnSignals {
 public:
  static constexpr auto kSameStop = std::chrono::seconds(1);

  StopOnSignals(boost::asio::io_context& io, front::Server& server, supervisor::Supervisor& sup,
                std::chrono::milliseconds grace)
      : io_(io), server_(server), sup_(sup), grace_(grace), signals_(io, SIGINT, SIGTERM) {
    Wait();
  }

 private:
  void Wait() {
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      OnSignal(sig);
      Wait();
    });
  }
  void OnSignal(int sig) {
    const auto now = std::chrono::steady_clock::now();
    if (!first_) {
      first_ = now;
      LogInfo("stop_signal_received", {{"signal", sig}, {"action", "drain"}, {"grace_s", grace_.count() / 1000.0}});
      return sup_.Drain(grace_, [this] { Finish(); });
    }
    if (now - *first_ < kSameStop) {
      LogInfo("stop_signal_received", {{"signal", sig}, {"action", "same_stop"}, {"within_s", kSameStop.count()}});
      return;
    }
    LogWarn("stop_signal_received", {{"signal", sig}, {"action", "stop_now"}, {"requests_left_get", "not_ready"}});
    sup_.Drain(std::chrono::milliseconds(0), nullptr);
  }
  void Finish() {
    LogInfo("server_drained", {{"next", "closing connections"}});
    server_.CloseWhenFlushed(std::chrono::seconds(2), [this] { io_.stop(); });
  }

  boost::asio::io_context& io_;
  front::Server& server_;
  supervisor::Supervisor& sup_;
  std::chrono::milliseconds grace_;
  boost::asio::signal_set signals_;
  std::optional<std::chrono::steady_clock::time_point> first_;
};

}  // namespace

void AddServeFlags(CLI::App& sub, ServeOptions& o) {
  auto& l = o.front.limits;
  sub.add_option("--host", o.host, "address to bind")->capture_default_str();
  sub.add_option("--port", o.port, "port to bind; 0 picks a free one")->capture_default_str();
  sub.add_option("--worker-command", o.worker_command,
                 "run this program as the workers instead of vigil-worker, e.g. 'python3 -m my_engine "
                 "--checkpoint DIR' (split like a shell, no shell; it gets vigil-worker's flags after its "
                 "own; docs/protocol.md, \"Writing a worker\"); replaces --engine");
  sub.add_option("--engine", o.engine, "llama or chaos (model-free, for tests)")
      ->check(CLI::IsMember({"llama", "chaos"}))->capture_default_str();
  sub.add_option("--model", o.model, "text model GGUF (default: the embedded default model)");
  sub.add_option("--mmproj", o.mmproj, "vision projector GGUF");
  sub.add_option("--workers", o.workers,
                 "worker processes running jobs (default: one per GPU, else 1)")
      ->check(CLI::Range(1, 256));
  sub.add_option("--jobs", o.jobs,
                 "jobs each worker runs at once, batched in one model context (default: 8 on a GPU, else 4)")
      ->check(CLI::Range(1, 256));
  sub.add_option("--spare-workers", o.spare_workers,
                 "loaded idle workers that take a dead worker's place at once (default: 1 on a GPU "
                 "whose free memory holds 3 copies of the model, else 0)")
      ->check(CLI::Range(0, 256));
  sub.add_option("--request-timeout", o.request_timeout_s, "deadline per request, seconds")->check(CLI::PositiveNumber)->capture_default_str();
  sub.add_option("--max-queue", o.max_queue, "queued jobs beyond this get 503")->check(CLI::Range(0, 1000000))->capture_default_str();
  sub.add_option("--max-attempts", o.max_attempts, "workers that may run one job")->check(CLI::Range(1, 10))->capture_default_str();
  sub.add_option("--quarantine-after", o.quarantine_after, "crashes on one input before quarantine")->capture_default_str();
  sub.add_option("--quarantine-for", o.quarantine_for_s, "quarantine length, seconds")->capture_default_str();
  sub.add_option("--hang-limit", o.hang_limit_s,
                 "seconds a busy worker's progress may stay frozen before it is killed as hung "
                 "(caps the per-phase defaults: image encode 120, prefill 60, decode 10; 0: defaults)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  sub.add_option("--load-hang-limit", o.load_hang_limit_s,
                 "seconds a loading worker's progress may stay frozen before it is killed as hung "
                 "(0: the default, 120)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  sub.add_option("--worker-memory-limit-mb", o.worker_memory_limit_mb,
                 "memory limit per worker, MiB: a cgroup v2 memory.max where vigil may create cgroups, "
                 "else RLIMIT_AS; 0: none; -1: 3/4 of memory shared among the workers (with RLIMIT_AS: "
                 "none on a GPU)")
      ->check(CLI::Range(int64_t{-1}, int64_t{1} << 40))->capture_default_str();
  sub.add_option("--worker-user", o.worker_user,
                 "user the workers run as once loaded (from the start with --worker-command): auto "
                 "(nobody when vigil runs as root), "
                 "none, or a name or uid")
      ->capture_default_str();
  sub.add_option("--worker-fault-at-load", o.worker_fault_at_load,
                 "tests: every worker injects this fault kind while loading (needs --allow-fault-injection)")
      ->check(CLI::IsMember({"segfault", "abort", "hang_busy", "hang_syscall", "exit", "oom", "garbage",
                             "close_protocol", "exception", "hang_gil"}));
  sub.add_option("--drain-grace", o.drain_grace_s, "on SIGTERM, time for in-flight requests, seconds")->capture_default_str();
  sub.add_option("--max-body-bytes", l.max_body_bytes, "request body limit")->capture_default_str();
  sub.add_option("--max-image-bytes", l.max_image_bytes, "size limit of each image")->capture_default_str();
  sub.add_option("--max-images", l.max_images, "images per request")
      ->check(CLI::Range(1, 64))->capture_default_str();
  sub.add_option("--max-total-image-bytes", l.max_total_image_bytes, "size limit of a request's images together")
      ->capture_default_str();
  sub.add_option("--max-image-pixels", l.max_image_pixels, "declared width*height limit")->capture_default_str();
  sub.add_option("--max-prompt-bytes", l.max_prompt_bytes, "prompt size limit")->capture_default_str();
  sub.add_option("--max-tokens-limit", l.max_tokens, "ceiling for max_tokens")->capture_default_str();
  sub.add_option("--max-header-bytes", l.max_header_bytes, "request header limit")->capture_default_str();
  sub.add_option("--max-parts", l.max_parts, "multipart part limit")->capture_default_str();
  sub.add_option("--max-connections", l.max_connections, "open connection cap")->capture_default_str();
  sub.add_option_function<double>("--header-timeout", [&l](double v) { l.header_timeout = Ms(v); },
                                  "seconds for a whole request header (slow-loris cut)");
  sub.add_option_function<double>("--body-timeout", [&l](double v) { l.body_timeout = Ms(v); },
                                  "seconds for a whole request body");
  sub.add_option_function<double>("--write-timeout", [&l](double v) { l.write_timeout = Ms(v); },
                                  "seconds one response write may wait for a client that does not read "
                                  "(then the connection closes and its job is cancelled)");
  sub.add_option_function<double>("--idle-timeout", [&l](double v) { l.idle_timeout = Ms(v); },
                                  "seconds a keep-alive connection may idle");
  sub.add_option("--api-key", o.front.api_key, "require Authorization: Bearer KEY (except /health, /ready)");
  sub.add_flag("--allow-fault-injection", o.front.allow_fault_injection, "honour X-Vigil-Fault (tests only)");
  sub.add_option("--ctx", o.ctx, "worker context size, tokens")->capture_default_str();
  sub.add_option("--threads", o.threads,
                 "engine CPU threads per worker (default: the cores this process may use / workers)")
      ->check(CLI::Range(1, 1024));
  sub.add_option("--gpu-layers", o.gpu_layers,
                 "layers offloaded to the GPU, as llama-server's -ngl (-1: all when a GPU is present; 0: CPU only)")
      ->capture_default_str()->check(CLI::Range(-1, 100000));
  sub.add_option("--worker-devices", o.worker_devices,
                 "devices to spread workers over, round-robin by slot, e.g. Vulkan0,Vulkan1 "
                 "(see `vigil devices`); auto: slot i uses GPU i modulo the GPUs present")
      ->delimiter(',')->capture_default_str();
  sub.add_option("--oom-retry", o.oom_retry_s,
                 "seconds before a worker whose model did not fit its device's memory loads again")
      ->check(CLI::PositiveNumber)->capture_default_str();
  sub.add_option("--model-name", o.model_name, "the model's name in /v1/models and responses "
                 "(default: the GGUF's general.name)");
  sub.add_option("--image-cache-mb", o.image_cache_mb, "image-embedding cache per worker, MiB (0: off)")
      ->capture_default_str()->check(CLI::Range(0, 1 << 20));

  sub.add_option("--log-level", o.log_level, "trace|debug|info|warn|error")->capture_default_str();
}

int RunServe(ServeOptions o) {
  // Logs go to stderr through common/log.h, the one logging path: stdout
  // carries only the "listening on" line.
  if (!SetLogLevel(o.log_level)) {
    std::fprintf(stderr, "vigil serve: --log-level %s: expected trace, debug, info, warn or error\n",
                 o.log_level.c_str());
    return 2;
  }
  if (!o.worker_command.empty()) o.engine = kExternalEngine;
  Status model = ResolveModel(o);
  if (!model.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", model.error().message.c_str());
    return 2;
  }
  ApplyTuning(o);
  auto args = WorkerArgs(o);
  if (!args.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", args.error().message.c_str());
    return 2;
  }
  boost::asio::io_context io;
  supervisor::SupervisorOptions so;
  so.worker_binary = WorkerBinary();
  so.worker_args = *args;
  if (o.engine == kExternalEngine) {
    if (Status used = UseWorkerCommand(o, *args, so); !used.ok()) {
      std::fprintf(stderr, "vigil serve: %s\n", used.error().message.c_str());
      return 2;
    }
  }
  so.worker_devices = o.worker_devices;
  so.oom_retry = Ms(o.oom_retry_s);
  so.workers = o.workers;
  so.jobs_per_worker = o.jobs;
  so.spare_workers = o.spare_workers;
  const int64_t worker_memory_bytes = std::max<int64_t>(0, o.worker_memory_limit_mb) << 20;
  if (o.worker_cgroups) {
    so.worker_cgroups = o.worker_cgroups;
    so.worker_cgroup_memory_max = worker_memory_bytes;
  } else {
    so.worker_address_space_limit = worker_memory_bytes;
  }
  so.max_queue = o.max_queue;
  so.request_timeout = Ms(o.request_timeout_s);
  so.max_attempts = o.max_attempts;
  so.quarantine_after = o.quarantine_after;
  so.quarantine_for = std::chrono::seconds(int64_t(o.quarantine_for_s));
  so.allow_fault_injection = o.front.allow_fault_injection;
  if (o.hang_limit_s > 0) {
    const auto cap = std::max(Ms(o.hang_limit_s), std::chrono::milliseconds(1));
    for (auto* limit : {&so.hang.image_encode, &so.hang.prefill, &so.hang.decode}) {
      *limit = std::min(*limit, cap);
    }
  }
  if (o.load_hang_limit_s > 0) so.hang.load = std::max(Ms(o.load_hang_limit_s), std::chrono::milliseconds(1));
  so.model_name = ModelName(o);
  auto sup = supervisor::MakeSupervisor(io, std::move(so));

  front::Router router(*sup, o.front);
  front::Server server(io, router, o.front.limits);
  auto port = server.Listen(o.host, static_cast<uint16_t>(o.port));
  if (!port.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", port.error().message.c_str());
    return 2;
  }
  sup->Start();
  std::printf("vigil: listening on http://%s:%u\n", o.host.c_str(), unsigned(*port));
  std::fflush(stdout);
  LogInfo("listener_opened", {{"url", "http://" + o.host + ":" + std::to_string(*port)}, {"engine", o.engine},
                              {"workers", o.workers}});

  StopOnSignals stop(io, server, *sup, Ms(o.drain_grace_s));
  io.run();
  server.CloseAll();
  sup.reset();  // SIGKILLs and reaps any worker left
  // Let the aborted socket handlers run so connections die while the router
  // they report to still exists.
  io.restart();
  io.poll();
  return 0;
}

}  // namespace vigil::cli
