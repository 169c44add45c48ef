// fake_worker: a scripted worker that misbehaves in ways the real
// vigil-worker never does (protocol violations, ignoring cancel or
// shutdown, going silent), so every supervisor fault path has a test.
//
//   fake_worker --script NAME [ignored worker flags...] --fd N
//
// Scripts: normal, second_hello, wrong_job_id, piece_when_idle, exit2,
// silent_after_load, ignore_cancel, ignore_shutdown;
//   load_failed_CODE  hello, then failed{job 0, code CODE (a wire name, e.g.
//                     out_of_memory)}, then exit 2, as vigil-worker does when
//                     its engine cannot load; with --once-file PATH only the
//                     first worker fails (it creates PATH; later ones find it
//                     and run normal), as when memory comes back;
//   failed_job_while_loading  hello, then failed{job 7}, then waits to be killed;
//   by_device         run the script named by --device (one script per slot).
// The loaded frame's model.device is the --device value (or "CPU"), so a
// test can see which --device each worker got; with a --device it also
// reports device memory (total 1000, free 800 at load, 600 after each job)
// and 7 GPU layers. Single-threaded: a poll()
// loop that sends a heartbeat every 50 ms.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "protocol/frame.h"
#include "protocol/messages.h"

using namespace vigil::protocol;

namespace {

int g_fd = -1;

void Send(const Frame& f) {
  std::string bytes = EncodeFrame(f);
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = write(g_fd, bytes.data() + off, bytes.size() - off);
    if (n <= 0) _exit(3);
    off += static_cast<size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string script = "normal", device, once_file;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--fd") g_fd = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--script") script = argv[i + 1];
    if (std::string(argv[i]) == "--device") device = argv[i + 1];
    if (std::string(argv[i]) == "--once-file") once_file = argv[i + 1];
  }
  if (g_fd < 0) return 2;
  if (script == "by_device") script = device;
  if (!once_file.empty()) {
    const int fd = open(once_file.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
    if (fd < 0) script = "normal";  // an earlier worker ran the script
    if (fd >= 0) close(fd);
  }
  if (script.rfind("load_failed_", 0) == 0) {
    const std::string code = script.substr(std::string("load_failed_").size());
    const std::string message = "fake load failure (" + code + ")";
    Send(ToFrame(Hello{.engine = "fake", .pid = getpid()}));
    Send(ToFrame(Failed{.job_id = 0,
                        .code = vigil::ParseErrorCode(code).value_or(vigil::ErrorCode::kInternal),
                        .message = message}));
    std::fprintf(stderr, "vigil-worker: load failed: %s\n", message.c_str());
    return kExitFatalConfig;
  }
  if (script == "failed_job_while_loading") {
    Send(ToFrame(Hello{.engine = "fake", .pid = getpid()}));
    Send(ToFrame(Failed{.job_id = 7, .code = vigil::ErrorCode::kOutOfMemory, .message = "x"}));
    for (;;) pause();  // alive: the supervisor must kill it, not see an exit
  }
  if (script == "exit2") {
    std::fprintf(stderr, "fake_worker: cannot open model /nonexistent.gguf\n");
    return 2;
  }
  Send(ToFrame(Hello{.engine = "fake", .pid = getpid()}));
  Loaded loaded{.load_ms = 1};
  loaded.model.name = "fake-model";
  loaded.model.device = device.empty() ? "CPU" : device;
  if (!device.empty()) {
    loaded.model.device_memory_total = 1000;
    loaded.model.device_memory_free = 800;
    loaded.model.gpu_layers = 7;
  }
  Send(ToFrame(loaded));
  if (script == "second_hello") Send(ToFrame(Hello{.engine = "fake", .pid = getpid()}));
  if (script == "piece_when_idle") Send(ToFrame(Piece{.job_id = 99, .text = "x"}));
  FrameDecoder decoder;
  uint64_t job = 0, progress = 0;
  bool silent = script == "silent_after_load";
  for (;;) {
    pollfd p{g_fd, POLLIN, 0};
    int r = poll(&p, 1, 50);
    if (!silent) {
      Send(ToFrame(Heartbeat{.phase = job ? "decode" : "idle", .job_id = job, .progress = ++progress}));
    }
    if (r <= 0) continue;
    char buf[65536];
    ssize_t n = read(g_fd, buf, sizeof buf);
    if (n <= 0) return 3;
    decoder.Feed(std::string_view(buf, static_cast<size_t>(n)));
    for (;;) {
      auto next = decoder.Next();
      if (!next.ok()) return 3;
      if (!next->has_value()) break;
      Frame& f = **next;
      if (f.type == MessageType::kShutdown) {
        if (script == "ignore_shutdown") continue;
        return 0;
      }
      if (f.type == MessageType::kCancel) continue;  // ignore_cancel: never ends the job
      if (f.type != MessageType::kJob) return 3;
      auto j = ParseJob(std::move(f));
      if (!j.ok()) return 3;
      job = j->job_id;
      if (script == "wrong_job_id") Send(ToFrame(Piece{.job_id = job + 1000, .text = "x"}));
      if (script == "ignore_cancel") continue;
      Send(ToFrame(Piece{.job_id = job, .text = "fake "}));
      Send(ToFrame(Piece{.job_id = job, .text = "text"}));
      Done done{.job_id = job, .text = "fake text", .finish_reason = "stop"};
      if (!device.empty()) done.device_memory_free = 600;
      Send(ToFrame(done));
      job = 0;
    }
  }
}
