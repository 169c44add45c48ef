#include "cli/demo.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "cli/analyze.h"
#include "cli/http_client.h"
#include "cli/paths.h"
#include "common/spawn.h"
#include "common/unique_fd.h"

namespace vigil::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Child {
  pid_t pid = -1;
  int out = -1;  // its stdout
};

std::string LogPath() { return (fs::temp_directory_path() / ("vigil-demo-" + std::to_string(getpid()) + ".log")).string(); }

Child SpawnServer(const DemoOptions& o) {
  std::vector<std::string> args = {fs::path(ExeDir()) / "vigil", "serve", "--host", "127.0.0.1", "--port", "0",
                                   "--engine", o.engine, "--log-level", "warn"};
  if (!o.model.empty()) args.insert(args.end(), {"--model", o.model, "--mmproj", o.mmproj});
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  UniqueFd out_read(fds[0]), out_write(fds[1]);
  // The server's log would drown the answers: it goes to a file.
  UniqueFd log(open(LogPath().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  SpawnSpec spec{.argv = std::move(args), .fds = {{STDOUT_FILENO, out_write.get()}}};
  if (log.valid()) spec.fds.emplace_back(STDERR_FILENO, log.get());
  // If the demo dies without stopping it, the server drains and exits.
  spec.parent_death_signal = SIGTERM;
  Result<pid_t> pid = Spawn(spec);
  if (!pid.ok()) return {};
  return {*pid, out_read.Release()};
}

// Reads the child's "vigil: listening on URL" line, within a bound.
std::string ReadListenUrl(const Child& c, std::chrono::seconds bound) {
  std::string line;
  const auto deadline = Clock::now() + bound;
  while (Clock::now() < deadline) {
    pollfd p{c.out, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (poll(&p, 1, int(std::max<int64_t>(left, 1))) <= 0) continue;
    char ch;
    if (read(c.out, &ch, 1) != 1) return {};
    if (ch == '\n') {
      const std::string prefix = "vigil: listening on ";
      if (line.starts_with(prefix)) return line.substr(prefix.size());
      line.clear();
    } else {
      line.push_back(ch);
    }
  }
  return {};
}

bool WaitReady(const Url& url, double bound_s) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(int64_t(bound_s * 1000));
  while (Clock::now() < deadline) {
    auto r = FetchAll(url, HttpCall{"GET", "/ready", {}, "", std::chrono::seconds(5)});
    if (r.ok() && r->first.status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a CLI waiting on a loading model
  }
  return false;
}

// SIGINT/SIGTERM to the demo: the question being answered finishes, no new
// one is asked, the server is stopped (it drains), and the demo exits 0. The
// first signal is passed to the server at once; a repeat within a second is
// the same stop (a launcher and a process manager may both deliver it); a
// later one is passed on too, and the server then stops at once.
volatile sig_atomic_t g_stops = 0;
volatile pid_t g_server = -1;
timespec g_first_stop{};

void OnStopSignal(int) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe, as kill() is
  const int64_t since_first_ns = (int64_t(now.tv_sec) - g_first_stop.tv_sec) * 1'000'000'000 +
                                 (now.tv_nsec - g_first_stop.tv_nsec);
  if (g_stops > 0 && since_first_ns < 1'000'000'000) return;
  if (g_stops == 0) g_first_stop = now;
  g_stops = g_stops + 1;  // no ++ on a volatile (deprecated in C++20)
  if (g_server > 0) kill(g_server, SIGTERM);
}

void HandleStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sa.sa_flags = SA_RESTART;  // the request in flight carries on
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void StopServer(const Child& c) {
  if (g_stops == 0) kill(c.pid, SIGTERM);  // else the handler already told it
  for (int i = 0; i < 100; ++i) {
    if (waitpid(c.pid, nullptr, WNOHANG) == c.pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(c.pid, SIGKILL);
  waitpid(c.pid, nullptr, 0);
}

void PrintTimings(const nlohmann::json& done) {
  const auto& t = done.value("timings", nlohmann::json::object());
  const auto& img = done.value("image", nlohmann::json::object());
  auto ms = [&](const char* k) { return t.is_object() ? t.value(k, 0.0) : 0.0; };
  std::printf("   [image %s %lldx%lld | decode %.0f ms, encode %.0f ms, prefill %.0f ms, generate %.0f ms, "
              "total %.0f ms | %lld tokens | attempts %d]\n",
              img.is_object() ? img.value("format", "?").c_str() : "?",
              img.is_object() ? (long long)img.value("width", 0) : 0LL,
              img.is_object() ? (long long)img.value("height", 0) : 0LL, ms("image_decode_ms"), ms("image_encode_ms"),
              ms("prefill_ms"), ms("decode_ms"), ms("total_ms"),
              (long long)done.value("usage", nlohmann::json::object()).value("completion_tokens", 0),
              done.value("attempts", 0));
}

// samples/questions.json: {"file": [["question", "expected answer"], ...]}.
// Absent or unreadable: generic prompts, no expected answers.
nlohmann::json LoadQuestions(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "questions.json");
  if (!in) return nlohmann::json::object();
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::vector<std::pair<std::string, std::string>> QuestionsFor(const nlohmann::json& all, const std::string& file) {
  std::vector<std::pair<std::string, std::string>> out;
  if (auto it = all.find(file); it != all.end() && it->is_array()) {
    for (const auto& qa : *it) {
      if (qa.is_array() && qa.size() == 2 && qa[0].is_string() && qa[1].is_string()) {
        out.emplace_back(qa[0].get<std::string>(), qa[1].get<std::string>());
      }
    }
  }
  if (out.empty()) out.emplace_back("Describe the image.", "");
  return out;
}

}  // namespace

int RunDemo(const DemoOptions& o) {
  std::string dir = o.samples;
  if (dir.empty()) dir = FindSamplesDir().value_or("");
  std::vector<fs::path> images;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto ext = e.path().extension();
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".webp" || ext == ".gif") images.push_back(e.path());
  }
  std::sort(images.begin(), images.end());
  if (images.empty()) {
    std::fprintf(stderr, "vigil demo: no sample images (looked in '%s'; pass --samples DIR)\n", dir.c_str());
    return 2;
  }
  std::printf("vigil demo: starting the server (engine %s; its log: %s)...\n", o.engine.c_str(), LogPath().c_str());
  std::fflush(stdout);
  HandleStopSignals();
  Child child = SpawnServer(o);
  if (child.pid < 0) return 3;
  g_server = child.pid;
  const std::string url_text = ReadListenUrl(child, std::chrono::seconds(30));
  auto url = ParseUrl(url_text);
  if (url_text.empty() || !url.ok() || !WaitReady(*url, o.ready_timeout_s)) {
    std::fprintf(stderr, "vigil demo: the server did not become ready (see %s)\n", LogPath().c_str());
    StopServer(child);
    return 21;
  }
  std::printf("vigil demo: server ready at %s\n\n", url_text.c_str());
  const nlohmann::json questions = LoadQuestions(dir);
  int failures = 0, asked = 0, right = 0;
  for (const auto& image : images) {
    if (g_stops > 0) break;
    std::ifstream in(image, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    for (const auto& [question, expected] : QuestionsFor(questions, image.filename().string())) {
      if (g_stops > 0) break;
      AnalyzeOptions ao;
      ao.server = url_text;
      ao.prompt = question;
      ao.max_tokens = 48;
      ao.temperature = 0;
      std::printf("== %s: %s\n   ", image.filename().c_str(), question.c_str());
      std::fflush(stdout);
      std::string answer;
      AnalyzeResult r = AnalyzeOnce(
          ao, ss.str(),
          [&answer](std::string_view piece) {
            answer += piece;
            std::fwrite(piece.data(), 1, piece.size(), stdout);
            std::fflush(stdout);
          },
          [](const nlohmann::json&) {});
      if (!expected.empty()) {
        ++asked;
        right += answer == expected;
        std::printf("   %s", answer == expected ? "(right)" : ("(expected: " + expected + ")").c_str());
      }
      std::printf("\n");
      if (r.exit_code != 0) {
        std::printf("   %s\n", r.error_line.c_str());
        ++failures;
      } else {
        PrintTimings(r.done);
      }
    }
  }
  if (g_stops > 0) std::printf("\nvigil demo: stopped by a signal after %d answers\n", asked);
  if (asked > 0) std::printf("\nvigil demo: %d of %d answers right\n", right, asked);
  std::printf("\nvigil demo: stopping the server\n");
  StopServer(child);
  return failures == 0 ? 0 : 1;
}

}  // namespace vigil::cli
