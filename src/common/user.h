// user.h: a user named on the command line (--worker-user, the worker's
// --user), looked up once for the supervisor and the worker alike.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>

#include "common/error.h"

namespace vigil {

// A name from the password database, or a bare number: a uid with an entry
// gets that entry's gid; one without gets the same number as its gid, as
// systemd's DynamicUser does. Errors (kInvalidRequest): neither a known name
// nor a number. Thread-safety: uses getpwnam/getpwuid (not reentrant).
Result<std::pair<uid_t, gid_t>> LookUpUser(const std::string& user);

}  // namespace vigil
