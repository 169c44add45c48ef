#include "worker_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vigil::testing {

using Clock = std::chrono::steady_clock;

std::string WorkerBinary() { return VIGIL_WORKER_BINARY; }

static std::string ModelFile(const char* name) {
  const std::string path = std::string(VIGIL_TEST_MODEL_DIR) + "/" + name;
  return std::filesystem::exists(path) ? path : "";
}
std::string TinyModel() { return ModelFile("vigil-tiny-text.gguf"); }
std::string TinyMmproj() { return ModelFile("vigil-tiny-mmproj.gguf"); }

WorkerProcess::WorkerProcess(const std::vector<std::string>& args, rlim_t address_space) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  char path[] = "/tmp/vigil-worker-stderr-XXXXXX";
  const int err_fd = ::mkstemp(path);
  stderr_path_ = path;
  // Everything the child needs is built before fork (no allocation after).
  std::vector<std::string> argv_s = {WorkerBinary(), "--fd", std::to_string(sv[1])};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::fcntl(sv[1], F_SETFD, 0);  // the worker's end survives exec
    ::dup2(err_fd, STDERR_FILENO);
    if (address_space > 0) {
      struct rlimit rl{address_space, address_space};
      ::setrlimit(RLIMIT_AS, &rl);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(err_fd);
  ::close(sv[1]);
  sock_ = sv[0];
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
}

WorkerProcess::~WorkerProcess() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    WaitExit(milliseconds(5000));
  }
  if (sock_ >= 0) ::close(sock_);
  if (pidfd_ >= 0) ::close(pidfd_);
  std::filesystem::remove(stderr_path_);
}

Result<std::optional<protocol::Frame>> WorkerProcess::Next(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    Result<std::optional<protocol::Frame>> f = decoder_.Next();
    if (!f || f->has_value() || eof_) return f;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::optional<protocol::Frame>{};
    pollfd p{sock_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count()) + 1) <= 0) continue;
    char buf[65536];
    const ssize_t n = ::read(sock_, buf, sizeof buf);
    if (n <= 0) {
      eof_ = true;
      continue;
    }
    decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

std::optional<protocol::Frame> WorkerProcess::NextMessage(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    Result<std::optional<protocol::Frame>> f = Next(std::max(left, milliseconds(0)));
    if (!f) {
      ADD_FAILURE() << "malformed frame from worker: " << f.error().message;
      return std::nullopt;
    }
    if (!*f) return std::nullopt;
    if ((*f)->type != protocol::MessageType::kHeartbeat) return std::move(**f);
    Result<protocol::Heartbeat> hb = protocol::ParseHeartbeat(**f);
    EXPECT_TRUE(hb.ok());
    if (hb) heartbeats.push_back(*hb);
  }
}

bool WorkerProcess::Handshake(protocol::Loaded* loaded) {
  std::optional<protocol::Frame> hello = NextMessage();
  if (!hello || hello->type != protocol::MessageType::kHello) {
    ADD_FAILURE() << "no hello; stderr:\n" << Stderr();
    return false;
  }
  Result<protocol::Hello> h = protocol::ParseHello(*hello);
  EXPECT_TRUE(h.ok());
  EXPECT_EQ(h->protocol, protocol::kProtocolVersion);
  EXPECT_EQ(h->pid, pid_);
  std::optional<protocol::Frame> l = NextMessage(milliseconds(30000));
  if (!l || l->type != protocol::MessageType::kLoaded) {
    ADD_FAILURE() << "no loaded; stderr:\n" << Stderr();
    return false;
  }
  Result<protocol::Loaded> parsed = protocol::ParseLoaded(*l);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  if (loaded && parsed) *loaded = *parsed;
  return parsed.ok();
}

void WorkerProcess::Send(const protocol::Frame& frame) { SendRaw(protocol::EncodeFrame(frame)); }

void WorkerProcess::SendRaw(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(sock_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;  // worker gone: the test's expectations will say so
    off += static_cast<size_t>(n);
  }
}

void WorkerProcess::CloseSocket() {
  ::close(sock_);
  sock_ = -1;
}

std::optional<int> WorkerProcess::WaitExit(milliseconds timeout) {
  if (status_) return status_;
  pollfd p{pidfd_, POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(timeout.count()));
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
  return status_;
}

bool WorkerProcess::Alive() { return !WaitExit(milliseconds(0)); }

std::string WorkerProcess::Stderr() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

protocol::Frame JobFrame(uint64_t id, const std::string& prompt, int64_t max_tokens,
                         std::string image, std::optional<protocol::FaultSpec> fault,
                         std::vector<std::string> stop) {
  protocol::Job job;
  job.job_id = id;
  job.prompt = prompt;
  job.params.max_tokens = max_tokens;
  job.params.stop = std::move(stop);
  if (!image.empty()) job.images.push_back(std::move(image));
  job.fault = std::move(fault);
  return protocol::ToFrame(job);
}

JobResult CollectJob(WorkerProcess& worker, milliseconds timeout) {
  JobResult r;
  const auto deadline = Clock::now() + timeout;
  while (!r.done && !r.failed) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    std::optional<protocol::Frame> f = worker.NextMessage(std::max(left, milliseconds(0)));
    if (!f) {
      ADD_FAILURE() << "job did not finish; stderr:\n" << worker.Stderr();
      break;
    }
    switch (f->type) {
      case protocol::MessageType::kProgress: r.progress.push_back(*protocol::ParseProgress(*f)); break;
      case protocol::MessageType::kPiece: r.pieces.push_back(protocol::ParsePiece(*f)->text); break;
      case protocol::MessageType::kDone: r.done = *protocol::ParseDone(*f); break;
      case protocol::MessageType::kFailed: r.failed = *protocol::ParseFailed(*f); break;
      default: ADD_FAILURE() << "unexpected " << protocol::MessageTypeName(f->type);
    }
  }
  return r;
}

std::map<uint64_t, JobResult> CollectJobs(WorkerProcess& worker, size_t n,
                                          std::vector<uint64_t>* order, milliseconds timeout) {
  std::map<uint64_t, JobResult> jobs;
  size_t ended = 0;
  const auto deadline = Clock::now() + timeout;
  auto end = [&](uint64_t id, JobResult& r) {
    EXPECT_FALSE(r.done || r.failed) << "second terminal frame for job " << id;
    ++ended;
    if (order) order->push_back(id);
  };
  while (ended < n) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    std::optional<protocol::Frame> f = worker.NextMessage(std::max(left, milliseconds(0)));
    if (!f) {
      ADD_FAILURE() << ended << " of " << n << " jobs finished; stderr:\n" << worker.Stderr();
      break;
    }
    switch (f->type) {
      case protocol::MessageType::kProgress: {
        protocol::Progress p = *protocol::ParseProgress(*f);
        JobResult& r = jobs[p.job_id];
        EXPECT_FALSE(r.done || r.failed) << "progress after the end of job " << p.job_id;
        r.progress.push_back(std::move(p));
        break;
      }
      case protocol::MessageType::kPiece: {
        protocol::Piece p = *protocol::ParsePiece(*f);
        JobResult& r = jobs[p.job_id];
        EXPECT_FALSE(r.done || r.failed) << "piece after the end of job " << p.job_id;
        r.pieces.push_back(std::move(p.text));
        break;
      }
      case protocol::MessageType::kDone: {
        protocol::Done d = *protocol::ParseDone(*f);
        JobResult& r = jobs[d.job_id];
        end(d.job_id, r);
        r.done = std::move(d);
        break;
      }
      case protocol::MessageType::kFailed: {
        protocol::Failed e = *protocol::ParseFailed(*f);
        JobResult& r = jobs[e.job_id];
        end(e.job_id, r);
        r.failed = std::move(e);
        break;
      }
      default: ADD_FAILURE() << "unexpected " << protocol::MessageTypeName(f->type);
    }
  }
  return jobs;
}

}  // namespace vigil::testing
