#include "common/user.h"

#include <pwd.h>

#include <cstdlib>

namespace vigil {

Result<std::pair<uid_t, gid_t>> LookUpUser(const std::string& user) {
  if (const passwd* pw = ::getpwnam(user.c_str())) return std::make_pair(pw->pw_uid, pw->pw_gid);
  char* end = nullptr;
  const long n = std::strtol(user.c_str(), &end, 10);
  if (!user.empty() && end && *end == '\0' && n >= 0 && n < 0x7fffffff) {
    if (const passwd* pw = ::getpwuid(static_cast<uid_t>(n))) return std::make_pair(pw->pw_uid, pw->pw_gid);
    return std::make_pair(static_cast<uid_t>(n), static_cast<gid_t>(n));
  }
  return MakeError(ErrorCode::kInvalidRequest, "no such user " + user);
}

}  // namespace vigil
