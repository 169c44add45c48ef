// Downscaling, hand-written: the worker links no image-processing library
// beyond the four codecs, and the encoder resamples again to its own grid,
// so all that is needed here is a reduction that does not alias. A separable
// box filter (each output pixel averages the source pixels it covers) is
// that, in a few dozen lines.
#include <algorithm>
#include <cstdint>

#include "worker/imaging/image.h"

namespace vigil::imaging {
namespace {

struct Span {
  int begin;
  int end;  // exclusive, > begin
};

std::vector<Span> Spans(int from, int to) {
  std::vector<Span> spans(static_cast<size_t>(to));
  for (int i = 0; i < to; ++i) {
    const int b = static_cast<int>(int64_t{i} * from / to);
    const int e = static_cast<int>(int64_t{i + 1} * from / to);
    spans[size_t(i)] = {b, std::max(e, b + 1)};
  }
  return spans;
}

// Reduces along one axis. `count` lines of `from` pixels -> `to` pixels; a
// pixel's neighbour along the axis is `stride` pixels away, the next line
// `line` pixels away (in the source; the destination is laid out likewise
// with `out_stride`/`out_line`).
void Reduce(const uint8_t* src, uint8_t* dst, int count, int from, int to, size_t stride,
            size_t line, size_t out_stride, size_t out_line) {
  const std::vector<Span> spans = Spans(from, to);
  for (int l = 0; l < count; ++l) {
    for (int i = 0; i < to; ++i) {
      const Span s = spans[size_t(i)];
      uint32_t sum[3] = {0, 0, 0};
      for (int j = s.begin; j < s.end; ++j) {
        const uint8_t* p = src + (size_t(l) * line + size_t(j) * stride) * 3;
        sum[0] += p[0];
        sum[1] += p[1];
        sum[2] += p[2];
      }
      const uint32_t n = static_cast<uint32_t>(s.end - s.begin);
      uint8_t* q = dst + (size_t(l) * out_line + size_t(i) * out_stride) * 3;
      for (int c = 0; c < 3; ++c) q[c] = static_cast<uint8_t>((sum[c] + n / 2) / n);
    }
  }
}

}  // namespace

Size CoverSize(int width, int height, int target_side) {
  const int shorter = std::min(width, height);
  if (target_side <= 0 || shorter <= target_side) return {width, height};
  auto scaled = [&](int side) {
    const int64_t v = (int64_t{side} * target_side + shorter / 2) / shorter;
    return static_cast<int>(std::max<int64_t>(v, target_side));
  };
  return width <= height ? Size{target_side, scaled(height)} : Size{scaled(width), target_side};
}

RgbImage Downscale(const RgbImage& source, Size size) {
  const int w = source.width, h = source.height;
  // Horizontal: h rows of w -> size.width.
  std::vector<uint8_t> tmp(size_t(size.width) * size_t(h) * 3);
  Reduce(source.pixels.data(), tmp.data(), h, w, size.width, 1, size_t(w), 1, size_t(size.width));
  // Vertical: size.width columns of h -> size.height.
  RgbImage out;
  out.width = size.width;
  out.height = size.height;
  out.pixels.resize(size_t(size.width) * size_t(size.height) * 3);
  Reduce(tmp.data(), out.pixels.data(), size.width, h, size.height, size_t(size.width), 1,
         size_t(size.width), 1);
  return out;
}

}  // namespace vigil::imaging
