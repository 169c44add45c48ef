// fingerprint.h: the identity of an input, for poison-input quarantine.
//
// fingerprint = SHA-256 over a length-prefixed encoding of the image bytes,
// the prompt, every sampling parameter, and the fault spec (a test input
// that asks for a crash is a different input from the same prompt without
// one). Length prefixes keep ("ab","c") and ("a","bc") apart.
//
// An image fingerprint is SHA-256 over the image bytes alone: a crash
// while a worker decodes or encodes an image is the image's fault, whatever
// prompt or parameters came with it (supervisor_impl.h, Blame).
//
// Thread-safety: pure.
#pragma once

#include <string>
#include <vector>

#include "supervisor/dispatcher.h"

namespace vigil::supervisor {

// 64 hex digits.
std::string Fingerprint(const JobSpec& spec);

// One per image of the spec, in order; 64 hex digits each.
std::vector<std::string> ImageFingerprints(const JobSpec& spec);

// The first 16 hex digits, for logs.
inline std::string ShortFingerprint(const std::string& fp) { return fp.substr(0, 16); }

}  // namespace vigil::supervisor
