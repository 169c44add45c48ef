// worker_command.h: `vigil serve --worker-command 'PROGRAM ARGS...'`: any
// program that speaks the worker protocol (docs/protocol.md, "Writing a
// worker") runs as the pool's workers instead of vigil-worker.
//
// The command line is split like a POSIX shell splits words, without a
// shell: blanks separate words; '...' keeps everything literally; "..."
// keeps everything but \" \\ \$ \` (backslash escapes them); a backslash
// outside quotes escapes the next character. No expansion of any kind
// ($VAR, ~, globs, $(...)): the words are passed as written. PROGRAM
// without a '/' is looked up in PATH now, once, so a typo is a start-up
// error rather than a crash loop of exit 127.
//
// The program gets the flags vigil-worker gets (--fd 3, --model, --ctx,
// --jobs, --device, ...), after its own ARGS. Its sandbox is applied by the
// supervisor before exec (ExternalWorkerHardening), since only vigil-worker
// locks itself down after load.
//
// Errors: kInvalidRequest with a message for the start-up error line.
// Thread-safety: pure functions, except the PATH and passwd look-ups and the
// access probe (a fork).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "supervisor/launcher.h"

namespace vigil::cli {

// The words of a command line. Errors: unterminated quote, trailing
// backslash, no words.
Result<std::vector<std::string>> SplitCommandLine(std::string_view text);

struct WorkerCommand {
  std::string program;            // an absolute or relative path, found in PATH if it had no '/'
  std::vector<std::string> args;  // the words after it
  std::vector<std::string> words; // as split, for logs
};

// Splits `text` and finds its program (`path` is PATH's value).
Result<WorkerCommand> ParseWorkerCommand(std::string_view text, std::string_view path);

// What the supervisor applies between fork and exec of an external worker:
// no_new_privs, a descriptor cap, a fresh network namespace where permitted,
// and, when `user` is not empty (a name or a uid), that user's uid and gid
// with no supplementary groups. Errors: an unknown user.
Result<supervisor::SpawnHardening> ExternalWorkerHardening(const std::string& user);

// The paths a worker command relies on that `hardening`'s user cannot
// reach: the program (execute), every argument naming an existing file or
// directory, and every PYTHONPATH entry that exists (in `pythonpath`,
// ':'-separated, or in an argument PYTHONPATH=..., as `env` takes it).
// Checked in a short-lived child that takes the user's ids, since access(2)
// answers for the caller only. Empty when the workers keep the supervisor's
// user. A warning at start beats a crash loop of ModuleNotFoundError when
// vigil runs as root from a directory only root may enter (the default
// --worker-user is nobody).
std::vector<std::string> PathsTheWorkerUserCannotReach(const supervisor::SpawnHardening& hardening,
                                                       const WorkerCommand& command,
                                                       std::string_view pythonpath);

}  // namespace vigil::cli
