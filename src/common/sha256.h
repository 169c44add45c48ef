// sha256.h: SHA-256 (FIPS 180-4), for input fingerprints (supervisor) and
// image-embedding cache keys (worker).
//
// Written here because the supervisor side links no crypto library (the
// build wall keeps it small); a fingerprint must not collide by accident
// across millions of inputs (nor may a cached embedding be served for
// another image), which rules out 32/64-bit non-cryptographic
// hashes. Checked against the FIPS test vectors in sha256_test.cc.
//
// Thread-safety: a Sha256 object is used by one thread; Sha256Hex is pure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace vigil {

class Sha256 {
 public:
  Sha256();
  void Update(std::string_view bytes);
  std::array<uint8_t, 32> Finish();

 private:
  void Block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string ToHex(const uint8_t* data, size_t n);
std::string Sha256Hex(std::string_view bytes);

}  // namespace vigil
