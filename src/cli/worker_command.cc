#include "cli/worker_command.h"

#include <unistd.h>

#include "common/user.h"

namespace vigil::cli {
namespace {

Error Bad(std::string message) { return MakeError(ErrorCode::kInvalidRequest, "--worker-command: " + message); }

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
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    std::string dir(path.substr(start, end - start));
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + cmd.program;
    if (::access(candidate.c_str(), X_OK) == 0) {
      cmd.program = candidate;
      return cmd;
    }
    start = end + 1;
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

}  // namespace vigil::cli
