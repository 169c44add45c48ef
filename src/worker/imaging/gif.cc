// GIF through giflib's low-level record API rather than DGifSlurp: Slurp
// decodes every frame of an animation into memory, while the model only ever
// sees the first frame. giflib reports errors by return code (no longjmp).
#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "worker/imaging/codecs.h"

namespace vigil::imaging::internal {
namespace {

struct Reader {
  std::string_view data;
  size_t pos = 0;
};

int OnRead(GifFileType* gif, GifByteType* out, int n) {
  auto* r = static_cast<Reader*>(gif->UserData);
  const size_t take = std::min(static_cast<size_t>(std::max(n, 0)), r->data.size() - r->pos);
  std::memcpy(out, r->data.data() + r->pos, take);
  r->pos += take;
  return static_cast<int>(take);  // short read: giflib reports the error
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int err = 0;
    DGifCloseFile(gif, &err);
  }
};
using GifPtr = std::unique_ptr<GifFileType, GifCloser>;

// Skips extension records up to the first image; returns its transparent
// colour index from the Graphic Control Extension (or NO_TRANSPARENT_COLOR).
Result<int> SeekFirstImage(GifFileType* gif) {
  int transparent = NO_TRANSPARENT_COLOR;
  for (;;) {
    GifRecordType type;
    if (DGifGetRecordType(gif, &type) != GIF_OK) return Invalid("gif", "truncated");
    if (type == IMAGE_DESC_RECORD_TYPE) return transparent;
    if (type == TERMINATE_RECORD_TYPE) return Invalid("gif", "no image in file");
    if (type != EXTENSION_RECORD_TYPE) continue;
    int code = 0;
    GifByteType* ext = nullptr;
    if (DGifGetExtension(gif, &code, &ext) != GIF_OK) return Invalid("gif", "bad extension");
    if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] == 4) {
      GraphicsControlBlock gcb;
      if (DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK) transparent = gcb.TransparentColor;
    }
    while (ext) {
      if (DGifGetExtensionNext(gif, &ext) != GIF_OK) return Invalid("gif", "bad extension");
    }
  }
}

// Reads the frame's rows (de-interlacing) and paints them on the canvas.
Status PaintFrame(GifFileType* gif, int transparent, RgbImage& canvas) {
  const GifImageDesc& d = gif->Image;
  const ColorMapObject* map = d.ColorMap ? d.ColorMap : gif->SColorMap;
  if (!map) return Invalid("gif", "no colour map");
  std::vector<GifPixelType> line(static_cast<size_t>(d.Width));
  static constexpr int kStart[] = {0, 4, 2, 1}, kStep[] = {8, 8, 4, 2};
  const int passes = d.Interlace ? 4 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    const int start = d.Interlace ? kStart[pass] : 0, step = d.Interlace ? kStep[pass] : 1;
    for (int row = start; row < d.Height; row += step) {
      if (DGifGetLine(gif, line.data(), d.Width) != GIF_OK) return Invalid("gif", "truncated");
      const int y = d.Top + row;
      if (y < 0 || y >= canvas.height) continue;  // frames may overhang the screen
      for (int col = 0; col < d.Width; ++col) {
        const int x = d.Left + col, index = line[size_t(col)];
        if (x < 0 || x >= canvas.width || index == transparent) continue;
        uint8_t* px = &canvas.pixels[(size_t(y) * canvas.width + x) * 3];
        if (index >= map->ColorCount) {
          px[0] = px[1] = px[2] = 0;
          continue;
        }
        const GifColorType& c = map->Colors[index];
        px[0] = c.Red;
        px[1] = c.Green;
        px[2] = c.Blue;
      }
    }
  }
  return OkStatus();
}

}  // namespace

Result<CodecOutput> DecodeGif(std::string_view bytes, const Limits& limits) {
  Reader reader{bytes, 0};
  int err = 0;
  GifPtr gif(DGifOpen(&reader, OnRead, &err));
  if (!gif) return Invalid("gif", GifErrorString(err) ? GifErrorString(err) : "bad header");
  if (Status s = CheckDimensions("gif", gif->SWidth, gif->SHeight, limits); !s) return s.error();
  Result<int> transparent = SeekFirstImage(gif.get());
  if (!transparent) return transparent.error();
  if (DGifGetImageDesc(gif.get()) != GIF_OK) return Invalid("gif", "bad image descriptor");
  const GifImageDesc& d = gif->Image;
  if (Status s = CheckDimensions("gif", d.Width, d.Height, limits); !s) return s.error();
  CodecOutput out;
  out.width = gif->SWidth;
  out.height = gif->SHeight;
  out.image.width = out.width;
  out.image.height = out.height;
  out.image.pixels.assign(size_t(out.width) * size_t(out.height) * 3, 0xff);  // white
  if (Status s = PaintFrame(gif.get(), *transparent, out.image); !s) return s.error();
  return out;
}

}  // namespace vigil::imaging::internal
