#include "supervisor/fingerprint.h"

#include <cstring>

#include "common/sha256.h"

namespace vigil::supervisor {
namespace {

void Field(Sha256& h, std::string_view bytes) {
  uint8_t len[8];
  const uint64_t n = bytes.size();
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
  h.Update(std::string_view(reinterpret_cast<const char*>(len), 8));
  h.Update(bytes);
}

void Number(Sha256& h, double v) {
  char buf[8];
  std::memcpy(buf, &v, 8);
  Field(h, std::string_view(buf, 8));
}

}  // namespace

std::string Fingerprint(const JobSpec& spec) {
  Sha256 h;
  Field(h, "vigil-input-v1");
  // Zero or one image hashes as before multi-image requests existed, so
  // quarantine entries keep their meaning.
  if (spec.images.size() <= 1) {
    Field(h, spec.images.empty() ? std::string_view() : std::string_view(spec.images[0]));
  } else {
    Field(h, "images:" + std::to_string(spec.images.size()));
    for (const auto& img : spec.images) Field(h, img);
  }
  Field(h, spec.prompt);
  const auto& p = spec.params;
  Field(h, std::to_string(p.max_tokens));
  Number(h, p.temperature);
  Number(h, p.top_p);
  Field(h, std::to_string(p.top_k));
  Field(h, std::to_string(p.seed));
  Field(h, std::to_string(p.stop.size()));
  for (const auto& s : p.stop) Field(h, s);
  Field(h, p.ignore_eos ? "1" : "0");
  if (spec.fault) {
    Field(h, "fault");
    Field(h, spec.fault->kind);
    Field(h, spec.fault->at);
    Field(h, std::to_string(spec.fault->after_tokens));
    Field(h, std::to_string(spec.fault->exit_code));
  }
  auto digest = h.Finish();
  return ToHex(digest.data(), digest.size());
}

std::vector<std::string> ImageFingerprints(const JobSpec& spec) {
  std::vector<std::string> out;
  for (const std::string& image : spec.images) {
    Sha256 h;
    Field(h, "vigil-image-v1");  // never equal to a request fingerprint
    Field(h, image);
    auto digest = h.Finish();
    out.push_back(ToHex(digest.data(), digest.size()));
  }
  return out;
}

}  // namespace vigil::supervisor
