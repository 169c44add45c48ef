#include "worker/text_stream.h"

#include <algorithm>

namespace vigil::worker {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the UTF-8 sequence starting at s[0]: > 0 a valid character of
// that length, 0 valid so far but incomplete, -1 invalid first byte(s).
int SequenceLength(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // > U+10FFFF
  } else {
    return -1;
  }
  for (int i = 1; i < len; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return 0;
    const unsigned char x = b(static_cast<size_t>(i));
    if (i == 1 ? (x < lo || x > hi) : (x < 0x80 || x > 0xBF)) return -1;
  }
  return len;
}

}  // namespace

TextStream::TextStream(std::vector<std::string> stop_strings) : stops_(std::move(stop_strings)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
  for (const auto& s : stops_) longest_stop_ = std::max(longest_stop_, s.size());
}

void TextStream::Absorb() {
  size_t i = 0;
  while (i < pending_.size()) {
    const int len = SequenceLength(std::string_view(pending_).substr(i));
    if (len == 0) break;  // wait for the rest of the character
    if (len < 0) {
      text_ += kReplacement;
      i += 1;
      continue;
    }
    text_.append(pending_, i, static_cast<size_t>(len));
    i += static_cast<size_t>(len);
  }
  pending_.erase(0, i);
}

size_t TextStream::FindStop(size_t from) const {
  size_t best = std::string::npos;
  for (const auto& stop : stops_) {
    const size_t start = from >= stop.size() - 1 ? from - (stop.size() - 1) : 0;
    best = std::min(best, text_.find(stop, start));
  }
  return best;
}

size_t TextStream::HeldBack() const {
  const size_t unsent = text_.size() - emitted_;
  for (size_t k = std::min(unsent, longest_stop_ - (longest_stop_ > 0)); k > 0; --k) {
    const std::string_view tail = std::string_view(text_).substr(text_.size() - k);
    for (const auto& stop : stops_) {
      if (stop.size() > k && std::string_view(stop).substr(0, k) == tail) return k;
    }
  }
  return 0;
}

TextStream::Update TextStream::Push(std::string_view bytes) {
  Update u;
  if (stopped_) {
    u.stopped = true;
    return u;
  }
  const size_t before = text_.size();
  pending_.append(bytes);
  Absorb();
  const size_t at = FindStop(before);
  if (at != std::string::npos) {
    text_.resize(std::max(at, emitted_));
    stopped_ = u.stopped = true;
  }
  const size_t end = stopped_ ? text_.size() : text_.size() - HeldBack();
  if (end > emitted_) {
    u.emit = text_.substr(emitted_, end - emitted_);
    emitted_ = end;
  }
  return u;
}

std::string TextStream::Flush() {
  if (stopped_) return {};
  if (!pending_.empty()) {
    text_ += kReplacement;
    pending_.clear();
  }
  std::string rest = text_.substr(emitted_);
  emitted_ = text_.size();
  return rest;
}

}  // namespace vigil::worker
