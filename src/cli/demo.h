// demo.h: `vigil demo`: starts `vigil serve` (the default model, an
// ephemeral port) as a child, waits for /ready, analyses the images under
// samples/ with the questions of samples/questions.json, prints each answer
// (and whether it is the expected one) with its timings and
// attempts, then stops the server (SIGTERM, then SIGKILL after a grace).
#pragma once

#include <string>

namespace vigil::cli {

struct DemoOptions {
  std::string engine = "llama";
  std::string model, mmproj;
  std::string samples;  // default: <repo>/samples
  double ready_timeout_s = 300;
};

int RunDemo(const DemoOptions& opts);

}  // namespace vigil::cli
