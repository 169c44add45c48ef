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
// and 7 GPU layers.
//
// Batching (protocol 2):
//   --jobs N          capacity N, reported in loaded.capacity (the flag the
//                     supervisor passes for jobs_per_worker > 1);
//   --capacity N      report and enforce N instead;
//   --protocol V      hello says V; with 1 the loaded frame has no capacity
//                     and the worker runs one job (as a version-1 worker);
//   --job-ms M        each job runs M ms (0, the default: answered at once);
//   --ignore-cancel   cancels are ignored (jobs still run).
// Jobs run concurrently. More jobs at once than the capacity: it says
// "over capacity" and exits 4. Each start is logged on stderr as
// "fake_worker: start job J running=N" (N counts the new job), so a test
// can count concurrency from the worker's side. Per job, by prompt:
//   "poison..."  the worker dies of SIGSEGV halfway through the job (before
//                jobs started with it finish);
//   "long..."    never finishes (until cancelled);
//   "diverge:PATH"  the first worker to run it (PATH absent: it creates it)
//                streams "fake " and dies of SIGSEGV; later ones stream
//                "other text": a replay that diverges from what was sent;
//   "imagecrash..."  says phase image_decode in a heartbeat, then dies of
//                SIGSEGV (a decoder bug): the image's fault;
//   "text-then-poison..."  sends a piece of text at once (without token ids,
//                as an engine that has none), then dies as poison;
// and by fault spec (with --allow-fault-injection's fault passed through):
//   segfault     as poison;
//   hang_busy    while it runs no job advances and the heartbeat's progress
//                stands still (a stuck batch: the watchdog must fire).
// A cancelled job ends with done{finish_reason cancelled}.
// Single-threaded: a poll() loop that sends a heartbeat every 50 ms (10 ms
// while jobs run).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "protocol/frame.h"
#include "protocol/messages.h"

using namespace vigil::protocol;
using Clock = std::chrono::steady_clock;

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

struct Flags {
  std::string script = "normal", device, once_file;
  int jobs = 1;
  int capacity = 0;  // 0: --jobs
  int protocol = kProtocolVersion;
  int job_ms = 0;
  bool ignore_cancel = false;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--fd") g_fd = std::atoi(v);
    if (a == "--script") f.script = v;
    if (a == "--device") f.device = v;
    if (a == "--once-file") f.once_file = v;
    if (a == "--jobs") f.jobs = std::atoi(v);
    if (a == "--capacity") f.capacity = std::atoi(v);
    if (a == "--protocol") f.protocol = std::atoi(v);
    if (a == "--job-ms") f.job_ms = std::atoi(v);
    if (a == "--ignore-cancel") f.ignore_cancel = true;
  }
  if (f.capacity <= 0) f.capacity = f.jobs;
  if (f.protocol < 2) f.capacity = 1;  // a version-1 worker runs one job
  return f;
}

// Scripts that end before the job loop; returns the exit code, or -1 to go on.
int RunEarlyScript(const std::string& script) {
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
  return -1;
}

void SendHelloAndLoaded(const Flags& flags) {
  Send(ToFrame(Hello{.protocol = flags.protocol, .engine = "fake", .pid = getpid()}));
  Loaded loaded{.load_ms = 1, .capacity = flags.capacity};
  loaded.model.name = "fake-model";
  loaded.model.device = flags.device.empty() ? "CPU" : flags.device;
  if (!flags.device.empty()) {
    loaded.model.device_memory_total = 1000;
    loaded.model.device_memory_free = 800;
    loaded.model.gpu_layers = 7;
  }
  Frame frame = ToFrame(loaded);
  if (flags.protocol < 2) frame.header.erase("capacity");
  Send(frame);
}

struct RunningJob {
  Clock::time_point started_at;
  Clock::time_point finish_at;
  bool forever = false;  // "long", or the ignore_cancel script
  bool crash = false;    // "poison", or fault segfault
  bool hang = false;     // fault hang_busy
};

class FakeWorker {
 public:
  explicit FakeWorker(Flags flags) : flags_(std::move(flags)) {}

  int Run() {
    FrameDecoder decoder;
    const bool silent = flags_.script == "silent_after_load";
    for (;;) {
      pollfd p{g_fd, POLLIN, 0};
      int r = poll(&p, 1, jobs_.empty() ? 50 : 10);
      const bool hung = Hung();
      if (!hung) ++progress_;
      if (!silent) {
        const uint64_t first = jobs_.empty() ? 0 : jobs_.begin()->first;
        Send(ToFrame(Heartbeat{.phase = first ? "decode" : "idle", .job_id = first, .progress = progress_}));
      }
      if (!hung) FinishDueJobs();
      if (r <= 0) continue;
      char buf[65536];
      ssize_t n = read(g_fd, buf, sizeof buf);
      if (n <= 0) return 3;
      decoder.Feed(std::string_view(buf, static_cast<size_t>(n)));
      for (;;) {
        auto next = decoder.Next();
        if (!next.ok()) return 3;
        if (!next->has_value()) break;
        if (int code = HandleFrame(**next); code >= 0) return code;
      }
    }
  }

 private:
  bool Hung() const {
    for (const auto& [id, job] : jobs_) {
      if (job.hang) return true;
    }
    return false;
  }

  // Returns an exit code to end with, or -1.
  int HandleFrame(Frame& f) {
    if (f.type == MessageType::kShutdown) return flags_.script == "ignore_shutdown" ? -1 : 0;
    if (f.type == MessageType::kCancel) {
      auto c = ParseCancel(f);
      if (!c.ok()) return 3;
      const bool ignore = flags_.ignore_cancel || flags_.script == "ignore_cancel";
      if (!ignore && jobs_.erase(c->job_id)) {
        Send(ToFrame(Done{.job_id = c->job_id, .finish_reason = "cancelled"}));
      }
      return -1;
    }
    if (f.type != MessageType::kJob) return 3;
    auto j = ParseJob(std::move(f));
    if (!j.ok()) return 3;
    return StartJob(*j);
  }

  int StartJob(const Job& j) {
    const std::string kind = j.fault ? j.fault->kind : "";
    const auto now = Clock::now();
    RunningJob job{.started_at = now,
                   .finish_at = now + std::chrono::milliseconds(flags_.job_ms),
                   .forever = j.prompt.rfind("long", 0) == 0 || flags_.script == "ignore_cancel",
                   .crash = j.prompt.rfind("poison", 0) == 0 || j.prompt.rfind("text-then-poison", 0) == 0 ||
                            kind == "segfault",
                   .hang = kind == "hang_busy"};
    jobs_[j.job_id] = job;
    std::fprintf(stderr, "fake_worker: start job %llu running=%zu\n",
                 static_cast<unsigned long long>(j.job_id), jobs_.size());
    if (static_cast<int>(jobs_.size()) > flags_.capacity) {
      std::fprintf(stderr, "fake_worker: over capacity (%d)\n", flags_.capacity);
      return 4;
    }
    if (flags_.script == "wrong_job_id") Send(ToFrame(Piece{.job_id = j.job_id + 1000, .text = "x"}));
    if (j.prompt.rfind("diverge:", 0) == 0) return Diverge(j.job_id, j.prompt.substr(8));
    if (j.prompt.rfind("imagecrash", 0) == 0) {
      Send(ToFrame(Heartbeat{.phase = "image_decode", .job_id = j.job_id, .progress = ++progress_}));
      raise(SIGSEGV);
    }
    if (j.prompt.rfind("text-then-poison", 0) == 0) Send(ToFrame(Piece{.job_id = j.job_id, .text = "some "}));
    if (flags_.job_ms == 0 && !Hung()) FinishDueJobs();  // crashes at once if poisoned
    return -1;
  }

  int Diverge(uint64_t id, const std::string& path) {
    if (access(path.c_str(), F_OK) != 0) {
      close(open(path.c_str(), O_WRONLY | O_CREAT, 0600));
      Send(ToFrame(Piece{.job_id = id, .text = "fake "}));
      raise(SIGSEGV);
    }
    jobs_.erase(id);
    Send(ToFrame(Piece{.job_id = id, .text = "other text"}));
    Send(ToFrame(Done{.job_id = id, .text = "other text", .finish_reason = "stop"}));
    return -1;
  }

  void FinishDueJobs() {
    const auto now = Clock::now();
    for (const auto& [id, job] : jobs_) {
      if (job.crash && job.started_at + (job.finish_at - job.started_at) / 2 <= now) {
        std::fprintf(stderr, "fake_worker: poisoned by job %llu\n", static_cast<unsigned long long>(id));
        raise(SIGSEGV);
      }
    }
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      const RunningJob& job = it->second;
      if (job.forever || job.finish_at > now) {
        ++it;
        continue;
      }
      const uint64_t id = it->first;
      it = jobs_.erase(it);
      Send(ToFrame(Piece{.job_id = id, .text = "fake "}));
      Send(ToFrame(Piece{.job_id = id, .text = "text"}));
      Done done{.job_id = id, .text = "fake text", .finish_reason = "stop"};
      if (!flags_.device.empty()) done.device_memory_free = 600;
      Send(ToFrame(done));
    }
  }

  Flags flags_;
  std::map<uint64_t, RunningJob> jobs_;
  uint64_t progress_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  if (g_fd < 0) return 2;
  if (flags.script == "by_device") flags.script = flags.device;
  if (!flags.once_file.empty()) {
    const int fd = open(flags.once_file.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
    if (fd < 0) flags.script = "normal";  // an earlier worker ran the script
    if (fd >= 0) close(fd);
  }
  if (int code = RunEarlyScript(flags.script); code >= 0) return code;
  SendHelloAndLoaded(flags);
  if (flags.script == "second_hello") Send(ToFrame(Hello{.engine = "fake", .pid = getpid()}));
  if (flags.script == "piece_when_idle") Send(ToFrame(Piece{.job_id = 99, .text = "x"}));
  return FakeWorker(std::move(flags)).Run();
}
