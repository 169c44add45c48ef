#include "worker/options.h"

#include <fcntl.h>

#include <CLI/CLI.hpp>

#include "worker/fault.h"

namespace vigil::worker {
namespace {

Error Bad(std::string message) { return MakeError(ErrorCode::kInvalidRequest, std::move(message)); }

Status Validate(const WorkerOptions& o) {
  if (o.fd < 0 || ::fcntl(o.fd, F_GETFD) < 0) {
    return Bad("--fd " + std::to_string(o.fd) + " is not an open file descriptor");
  }
  if (o.engine == "llama") {
    if (o.model.empty() || o.mmproj.empty()) return Bad("--engine llama needs --model and --mmproj");
  } else if (o.engine != "chaos") {
    return Bad("--engine must be llama or chaos, not '" + o.engine + "'");
  }
  if (!o.fault_at_load.empty()) {
    if (!ParseFaultKind(o.fault_at_load)) return Bad("--fault-at-load: unknown kind " + o.fault_at_load);
    if (!o.allow_fault_injection) return Bad("--fault-at-load needs --allow-fault-injection");
  }
  return OkStatus();
}

}  // namespace

Result<WorkerOptions> ParseWorkerOptions(int argc, const char* const* argv) {
  WorkerOptions o;
  CLI::App app("vigil-worker: runs one model for a vigil supervisor", "vigil-worker");
  app.add_option("--fd", o.fd, "protocol socket (inherited)")->required();
  app.add_option("--engine", o.engine, "llama | chaos")->required();
  app.add_option("--model", o.model, "text model GGUF");
  app.add_option("--mmproj", o.mmproj, "vision projector GGUF");
  app.add_option("--ctx", o.ctx, "context size in tokens, per job")->check(CLI::Range(64, 1 << 28));
  app.add_option("--jobs", o.jobs, "jobs run at once (continuous batching), each with --ctx tokens")
      ->check(CLI::Range(1, 256));
  app.add_option("--threads", o.threads, "CPU threads (0: default)")->check(CLI::Range(0, 1024));
  app.add_option("--gpu-layers", o.gpu_layers, "layers to offload (-1: default)")
      ->check(CLI::Range(-1, 100000));
  app.add_option("--device", o.device, "the one ggml device to use, e.g. Vulkan0 (see --list-devices), or auto:N for GPU N modulo the GPUs present");
  app.add_option("--max-image-pixels", o.max_image_pixels, "default pixel limit per image")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app.add_flag("--allow-fault-injection", o.allow_fault_injection, "honour fault requests");
  app.add_option("--fault-at-load", o.fault_at_load, "inject a fault while loading");
  app.add_option("--chaos-tokens-per-second", o.chaos_tokens_per_second, "chaos engine speed")
      ->check(CLI::Range(0.001, 1e9));
  app.add_option("--memory-limit-mb", o.memory_limit_mb, "address-space cap (RLIMIT_AS), 0: none")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--model-name", o.model_name, "the model's name in reports (default: general.name)");
  app.add_option("--image-cache-mb", o.image_cache_mb,
                 "image embedding cache for repeated images, MiB (0: off)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  app.add_option("--user", o.user, "after load, when root: run as this user (name or uid)");
  app.add_flag("!--no-sandbox", o.sandbox, "no Landlock or seccomp after load (debugging only)");
  app.add_option("--chaos-load-ms", o.chaos_load_ms, "chaos engine load time")
      ->check(CLI::Range(0, 3'600'000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return Bad(app.help());
  } catch (const CLI::ParseError& e) {
    return Bad(e.what());
  }
  if (Status s = Validate(o); !s) return s.error();
  return o;
}

}  // namespace vigil::worker
