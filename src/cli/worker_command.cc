#include "cli/worker_command.h"

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/user.h"

namespace vigil::cli {
namespace {

Error Bad(std::string message) { return MakeError(ErrorCode::kInvalidRequest, "--worker-command: " + message); }

// The entries of a ':'-separated list (PATH, PYTHONPATH), empty ones kept.
std::vector<std::string> SplitPathList(std::string_view list) {
  std::vector<std::string> entries;
  for (size_t start = 0; start <= list.size();) {
    size_t end = list.find(':', start);
    if (end == std::string_view::npos) end = list.size();
    entries.emplace_back(list.substr(start, end - start));
    start = end + 1;
  }
  return entries;
}

}  // namespace

// Hand-written: boost::program_options::split_unix would do, but needs the
// compiled boost_program_options library the build does not link, and
// wordexp(3) also expands variables and globs, which a command given in
// one flag must not undergo.
Result<std::vector<std::string>> SplitCommandLine(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos) return Bad("unterminated ' quote");
      word.append(text.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '"') {
      for (++i;; ++i) {
        if (i >= text.size()) return Bad("unterminated \" quote");
        if (text[i] == '"') break;
        if (text[i] == '\\' && i + 1 < text.size() && std::string_view("\"\\$`").find(text[i + 1]) != std::string_view::npos) ++i;
        word.push_back(text[i]);
      }
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return Bad("trailing backslash");
      word.push_back(text[++i]);
    } else {
      word.push_back(c);
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return Bad("empty command");
  return words;
}

Result<WorkerCommand> ParseWorkerCommand(std::string_view text, std::string_view path) {
  auto words = SplitCommandLine(text);
  if (!words) return words.error();
  WorkerCommand cmd;
  cmd.words = *words;
  cmd.program = words->front();
  cmd.args.assign(words->begin() + 1, words->end());
  if (cmd.program.find('/') != std::string::npos) {
    if (::access(cmd.program.c_str(), X_OK) != 0) return Bad(cmd.program + " is not an executable file");
    return cmd;
  }
  for (const std::string& dir : SplitPathList(path)) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + cmd.program;
    if (::access(candidate.c_str(), X_OK) == 0) {
      cmd.program = candidate;
      return cmd;
    }
  }
  return Bad(cmd.program + " not found in PATH");
}

Result<supervisor::SpawnHardening> ExternalWorkerHardening(const std::string& user) {
  supervisor::SpawnHardening h;
  h.no_new_privs = true;
  h.max_open_files = 1024;
  h.new_network_namespace = true;
  if (user.empty()) return h;
  Result<std::pair<uid_t, gid_t>> ids = LookUpUser(user);
  if (!ids) return MakeError(ErrorCode::kInvalidRequest, "--worker-user: " + ids.error().message);
  h.uid = static_cast<int64_t>(ids->first);
  h.gid = static_cast<int64_t>(ids->second);
  h.user = user;
  return h;
}

std::vector<std::string> PathsTheWorkerUserCannotReach(const supervisor::SpawnHardening& hardening,
                                                       const WorkerCommand& command,
                                                       std::string_view pythonpath) {
  if (hardening.uid < 0 || static_cast<uid_t>(hardening.uid) == ::geteuid()) return {};
  std::vector<std::pair<std::string, int>> checks{{command.program, X_OK}};
  auto add_if_exists = [&](const std::string& path) {
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) return;
    checks.emplace_back(path, S_ISDIR(st.st_mode) ? R_OK | X_OK : R_OK);
  };
  for (const std::string& arg : command.args) {
    // `env PYTHONPATH=dir python3 -m ...` sets it in the command itself.
    if (!arg.starts_with("PYTHONPATH=")) add_if_exists(arg);
    else for (const std::string& entry : SplitPathList(std::string_view(arg).substr(11))) add_if_exists(entry);
  }
  for (const std::string& entry : SplitPathList(pythonpath)) add_if_exists(entry);
  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls from here
    ::close(fds[0]);
    const bool became = ::setgroups(0, nullptr) == 0 && ::setgid(static_cast<gid_t>(hardening.gid)) == 0 &&
                        ::setuid(static_cast<uid_t>(hardening.uid)) == 0;
    for (const auto& [path, mode] : checks) {
      const char verdict = became && ::access(path.c_str(), mode) == 0 ? 'y' : 'n';
      if (::write(fds[1], &verdict, 1) != 1) break;
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::vector<std::string> unreachable;
  char verdict = 0;
  for (size_t i = 0; pid > 0 && i < checks.size() && ::read(fds[0], &verdict, 1) == 1; ++i) {
    if (verdict == 'n') unreachable.push_back(checks[i].first);
  }
  ::close(fds[0]);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  return unreachable;
}

}  // namespace vigil::cli
