// PNG through libpng. libpng reports errors by longjmp to a setjmp point; the
// function holding the setjmp (ReadRgba) therefore keeps no C++ object with
// a destructor of its own: everything lives in PngState, owned by the caller,
// so a longjmp skips no destructor. Transforms normalise every colour type
// to 8-bit RGBA, then CompositeOnWhite drops alpha like the other codecs do.
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <string>

#include "worker/imaging/codecs.h"

namespace vigil::imaging::internal {
namespace {

struct PngState {
  std::string_view data;
  size_t pos = 0;
  Limits limits;
  std::string error;        // first libpng error message
  Status dims = OkStatus();  // declared size vs limits
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgba;
  std::vector<png_bytep> rows;
};

void OnError(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  if (st->error.empty()) st->error = msg;
  png_longjmp(png, 1);
}

void OnWarning(png_structp, png_const_charp) {}  // benign; do not spam stderr

void OnRead(png_structp png, png_bytep out, size_t n) {
  auto* st = static_cast<PngState*>(png_get_io_ptr(png));
  if (st->data.size() - st->pos < n) png_error(png, "truncated");
  std::memcpy(out, st->data.data() + st->pos, n);
  st->pos += n;
}

// The helpers below touch C++ objects (strings, vectors). They are kept out
// of line so that code and its locals stay out of the frame holding the
// setjmp, where a longjmp could find them half-updated (-Wclobbered).
[[gnu::noinline]] bool AcceptDimensions(PngState* st, png_uint_32 w, png_uint_32 h) {
  st->dims = CheckDimensions("png", w, h, st->limits);
  return st->dims.ok();
}

[[gnu::noinline]] void SetError(PngState* st, const char* msg) { st->error = msg; }

[[gnu::noinline]] void AllocateRows(PngState* st, png_uint_32 w, png_uint_32 h) {
  st->width = static_cast<int>(w);
  st->height = static_cast<int>(h);
  st->rgba.resize(size_t{w} * h * 4);
  st->rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) st->rows[y] = st->rgba.data() + size_t{y} * w * 4;
}

// Returns true on success. Only POD locals: see the file comment.
bool ReadRgba(png_structp png, png_infop info, PngState* st) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, st, OnRead);
  // Ancillary chunks (iCCP, zTXt) can be zip bombs; cap each one.
  png_set_chunk_malloc_max(png, 8u << 20);
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, nullptr, nullptr);
  if (!AcceptDimensions(st, w, h)) return false;
  png_set_expand(png);            // palette -> RGB, gray < 8 bit -> 8, tRNS -> alpha
  png_set_scale_16(png);          // 16 -> 8 bit, rounded
  png_set_gray_to_rgb(png);
  png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);  // no-op when alpha exists
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != size_t{w} * 4) {
    SetError(st, "unexpected row layout");
    return false;
  }
  AllocateRows(st, w, h);
  png_read_image(png, st->rows.data());
  png_read_end(png, nullptr);
  return true;
}

}  // namespace

Result<CodecOutput> DecodePng(std::string_view bytes, const Limits& limits) {
  PngState st;
  st.data = bytes;
  st.limits = limits;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, OnError, OnWarning);
  if (!png) return MakeError(ErrorCode::kInternal, "png: out of memory");
  png_infop info = png_create_info_struct(png);
  const bool ok = info && ReadRgba(png, info, &st);
  png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  if (!st.dims) return st.dims.error();
  if (!ok) return Invalid("png", st.error.empty() ? "decode failed" : st.error);
  CodecOutput out;
  out.width = st.width;
  out.height = st.height;
  out.image = CompositeOnWhite(st.width, st.height, st.rgba.data());
  return out;
}

}  // namespace vigil::imaging::internal
