#include "cli/serve.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/paths.h"
#include "cli/tuning.h"
#include "cli/worker_limits.h"
#include "common/log.h"
#include "front/router.h"
#include "front/server.h"
#include "supervisor/supervisor.h"

namespace vigil::cli {
namespace {

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
    spdlog::info("using the default model {} + {}", o.model, o.mmproj);
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
  spdlog::info("serving with {} worker(s) x {} jobs at once, {} engine thread(s) each, {} spare (from {}; "
               "--workers/--jobs/--threads/--spare-workers override)",
               o.workers, o.jobs, o.threads, o.spare_workers, t.basis);
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
  std::vector<std::string> args = {"--engine", o.engine};
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
  const WorkerLimits limits = ChooseWorkerLimits(
      {.user = o.worker_user, .memory_limit_mb = o.worker_memory_limit_mb, .gpu = o.gpu_present,
       .processes = std::max(1, o.workers) + std::max(0, o.spare_workers),
       .model_bytes = o.model_bytes},
      ::geteuid() == 0, static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE));
  args.insert(args.end(), limits.args.begin(), limits.args.end());
  o.worker_memory_limit_mb = limits.memory_limit_mb;
  spdlog::info("sandbox: {}", limits.summary);
  return args;
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
      spdlog::info("signal {}: draining (grace {}s)", sig, grace_.count() / 1000.0);
      return sup_.Drain(grace_, [this] { Finish(); });
    }
    if (now - *first_ < kSameStop) {
      spdlog::info("signal {} again within {}s: the same stop", sig, kSameStop.count());
      return;
    }
    spdlog::warn("second signal ({}): stopping now; requests left get not_ready", sig);
    sup_.Drain(std::chrono::milliseconds(0), nullptr);
  }
  void Finish() {
    spdlog::info("drained; closing connections");
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
                 "address-space cap (RLIMIT_AS) per worker, MiB; 0: none; -1: 3/4 of memory shared "
                 "among the workers on CPU, none on a GPU")
      ->check(CLI::Range(int64_t{-1}, int64_t{1} << 40))->capture_default_str();
  sub.add_option("--worker-user", o.worker_user,
                 "user the workers run as once loaded: auto (nobody when vigil runs as root), "
                 "none, or a name or uid")
      ->capture_default_str();
  sub.add_option("--worker-fault-at-load", o.worker_fault_at_load,
                 "tests: every worker injects this fault kind while loading (needs --allow-fault-injection)")
      ->check(CLI::IsMember({"segfault", "abort", "hang_busy", "hang_syscall", "exit", "oom", "garbage",
                             "close_protocol"}));
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
  // Logs go to stderr: stdout carries only the "listening on" line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("vigil"));
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  // The supervisor's events (common/log.h) go through the same logger, so the
  // log is one stream with one format.
  vigil::SetLogSink([](vigil::LogLevel level, std::string_view message) {
    static constexpr spdlog::level::level_enum kLevels[] = {
        spdlog::level::debug, spdlog::level::info, spdlog::level::warn, spdlog::level::err};
    spdlog::log(kLevels[static_cast<int>(level)], "{}", message);
  });
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
  so.worker_devices = o.worker_devices;
  so.oom_retry = Ms(o.oom_retry_s);
  so.workers = o.workers;
  so.jobs_per_worker = o.jobs;
  so.spare_workers = o.spare_workers;
  so.worker_address_space_limit = std::max<int64_t>(0, o.worker_memory_limit_mb) << 20;
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
  spdlog::info("listening on http://{}:{} (engine {}, {} workers)", o.host, *port, o.engine, o.workers);

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
