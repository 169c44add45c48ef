// vigil: the command line. Subcommands: serve, analyze, demo, devices.
#include <unistd.h>

#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/analyze.h"
#include "cli/demo.h"
#include "cli/paths.h"
#include "cli/serve.h"

int main(int argc, char** argv) {
  using namespace vigil::cli;
  CLI::App app{"vigil: a crash-isolated vision-language model server"};
  app.require_subcommand(1);

  ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "run the HTTP server and its worker pool");
  AddServeFlags(*serve_cmd, serve);

  AnalyzeOptions analyze;
  auto* analyze_cmd = app.add_subcommand("analyze", "send one image to a server and stream the answer");
  analyze_cmd->add_option("--server", analyze.server, "server URL")->capture_default_str();
  analyze_cmd->add_option("image", analyze.image_path, "image file (png, jpeg, webp, gif)")->required();
  analyze_cmd->add_option("prompt", analyze.prompt, "question about the image (default: describe it)");
  analyze_cmd->add_option("--max-tokens", analyze.max_tokens, "tokens to generate at most");
  analyze_cmd->add_option("--temperature", analyze.temperature, "sampling temperature");
  analyze_cmd->add_option("--timeout", analyze.timeout_s, "ask the server for a shorter deadline, seconds");
  analyze_cmd->add_option("--api-key", analyze.api_key, "the server's API key")->envname("VIGIL_API_KEY");
  analyze_cmd->add_flag("--quiet,-q", analyze.quiet, "no progress on stderr");
  analyze_cmd->footer(ExitCodeTable());

  DemoOptions demo;
  auto* demo_cmd = app.add_subcommand("demo", "start a server, analyse the sample images, stop it");
  demo_cmd->add_option("--engine", demo.engine, "llama or chaos")->check(CLI::IsMember({"llama", "chaos"}));
  demo_cmd->add_option("--model", demo.model, "text model GGUF (default: the embedded default model)");
  demo_cmd->add_option("--mmproj", demo.mmproj, "vision projector GGUF");
  demo_cmd->add_option("--samples", demo.samples, "directory of images (default: samples/)");

  auto* devices_cmd = app.add_subcommand(
      "devices", "list the devices workers can use (ggml names for --worker-devices), as JSON lines");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // usage errors: exit code 2, as in the table
  }
  if (*serve_cmd) return RunServe(serve);
  if (*analyze_cmd) return RunAnalyze(analyze);
  if (*demo_cmd) return RunDemo(demo);
  if (*devices_cmd) {
    // The supervisor links no GPU library: a worker binary answers.
    const std::string worker = WorkerBinary();
    ::execl(worker.c_str(), worker.c_str(), "--list-devices", static_cast<char*>(nullptr));
    std::perror(("vigil devices: cannot run " + worker).c_str());
    return 1;
  }
  return 2;
}
