// text.h: small text helpers of the front (UTF-8 check, case folding,
// constant-time comparison). Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace vigil::front {

// True if s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

std::string AsciiLower(std::string_view s);
bool IEquals(std::string_view a, std::string_view b);
std::string_view Trim(std::string_view s);

// Compares secrets without an early exit, so the time taken does not reveal
// how long a matching prefix was.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Escapes s for a log line (control bytes as \xNN), cut at max bytes.
std::string ForLog(std::string_view s, size_t max = 200);

}  // namespace vigil::front
