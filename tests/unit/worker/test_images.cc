#include "test_images.h"

#include <gif_lib.h>
#include <png.h>
#include <turbojpeg.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include <cstring>
#include <map>
#include <stdexcept>

namespace vigil::testing {

Rgba Split(int width, int height, uint32_t left, uint32_t right) {
  Rgba img{width, height, std::vector<uint8_t>(size_t(width) * height * 4)};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const uint32_t c = x < width / 2 ? left : right;
      uint8_t* p = &img.px[(size_t(y) * width + x) * 4];
      p[0] = c >> 24;
      p[1] = (c >> 16) & 0xff;
      p[2] = (c >> 8) & 0xff;
      p[3] = c & 0xff;
    }
  }
  return img;
}

namespace {

void PngWrite(png_structp png, png_bytep data, size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), n);
}

std::vector<uint8_t> PngRow(const Rgba& img, int y, PngKind kind,
                            std::map<uint32_t, uint8_t>& palette) {
  std::vector<uint8_t> row;
  for (int x = 0; x < img.width; ++x) {
    const uint8_t* p = &img.px[(size_t(y) * img.width + x) * 4];
    switch (kind) {
      case PngKind::kRgb8: row.insert(row.end(), p, p + 3); break;
      case PngKind::kRgba8: row.insert(row.end(), p, p + 4); break;
      case PngKind::kRgb16:
        for (int c = 0; c < 3; ++c) row.insert(row.end(), {p[c], p[c]});
        break;
      case PngKind::kGrayAlpha8: row.insert(row.end(), {p[0], p[3]}); break;
      case PngKind::kPalette: {
        const uint32_t key = (p[0] << 16) | (p[1] << 8) | p[2];
        auto it = palette.try_emplace(key, static_cast<uint8_t>(palette.size())).first;
        row.push_back(it->second);
        break;
      }
    }
  }
  return row;
}

}  // namespace

std::string EncodePng(const Rgba& img, PngKind kind, bool interlaced) {
  std::map<uint32_t, uint8_t> palette;
  std::vector<std::vector<uint8_t>> rows;
  for (int y = 0; y < img.height; ++y) rows.push_back(PngRow(img, y, kind, palette));
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) throw std::runtime_error("png encode failed");
  png_set_write_fn(png, &out, PngWrite, nullptr);
  const int color = kind == PngKind::kRgba8     ? PNG_COLOR_TYPE_RGBA
                    : kind == PngKind::kPalette ? PNG_COLOR_TYPE_PALETTE
                    : kind == PngKind::kGrayAlpha8 ? PNG_COLOR_TYPE_GRAY_ALPHA
                                                   : PNG_COLOR_TYPE_RGB;
  png_set_IHDR(png, info, img.width, img.height, kind == PngKind::kRgb16 ? 16 : 8, color,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> colors(palette.size());
  for (auto [rgb, i] : palette) colors[i] = {uint8_t(rgb >> 16), uint8_t(rgb >> 8), uint8_t(rgb)};
  if (kind == PngKind::kPalette) png_set_PLTE(png, info, colors.data(), int(colors.size()));
  png_write_info(png, info);
  std::vector<png_bytep> ptrs;
  for (auto& r : rows) ptrs.push_back(r.data());
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::string EncodeJpeg(const Rgba& img, bool progressive, int quality) {
  tjhandle tj = tj3Init(TJINIT_COMPRESS);
  tj3Set(tj, TJPARAM_QUALITY, quality);
  tj3Set(tj, TJPARAM_SUBSAMP, TJSAMP_444);  // keep colour edges sharp
  tj3Set(tj, TJPARAM_PROGRESSIVE, progressive ? 1 : 0);
  unsigned char* buf = nullptr;
  size_t size = 0;
  if (tj3Compress8(tj, img.px.data(), img.width, 0, img.height, TJPF_RGBA, &buf, &size) != 0) {
    throw std::runtime_error(tj3GetErrorStr(tj));
  }
  std::string out(reinterpret_cast<char*>(buf), size);
  tj3Free(buf);
  tj3Destroy(tj);
  return out;
}

std::string EncodeCmykJpeg(const Rgba& img) {
  // Naive separation, stored inverted: C' = 255 - C = R (K' = 255: no black ink).
  std::vector<unsigned char> cmyk;
  for (size_t i = 0; i + 3 < img.px.size(); i += 4) {
    cmyk.insert(cmyk.end(), {img.px[i], img.px[i + 1], img.px[i + 2], 255});
  }
  tjhandle tj = tj3Init(TJINIT_COMPRESS);
  tj3Set(tj, TJPARAM_QUALITY, 95);
  tj3Set(tj, TJPARAM_SUBSAMP, TJSAMP_444);
  tj3Set(tj, TJPARAM_COLORSPACE, TJCS_YCCK);
  unsigned char* buf = nullptr;
  size_t size = 0;
  if (tj3Compress8(tj, cmyk.data(), img.width, 0, img.height, TJPF_CMYK, &buf, &size) != 0) {
    throw std::runtime_error(tj3GetErrorStr(tj));
  }
  std::string out(reinterpret_cast<char*>(buf), size);
  tj3Free(buf);
  tj3Destroy(tj);
  return out;
}

std::string WithExifOrientation(const std::string& jpeg, int orientation, bool big_endian) {
  auto u16 = [&](std::string& s, int v) {
    if (big_endian) s += {char(v >> 8), char(v & 0xff)};
    else s += {char(v & 0xff), char(v >> 8)};
  };
  auto u32 = [&](std::string& s, uint32_t v) {
    if (big_endian) { u16(s, int(v >> 16)); u16(s, int(v & 0xffff)); }
    else { u16(s, int(v & 0xffff)); u16(s, int(v >> 16)); }
  };
  std::string tiff = big_endian ? "MM" : "II";
  u16(tiff, 42);
  u32(tiff, 8);     // IFD0 offset
  u16(tiff, 2);     // two entries: an unrelated tag first, then Orientation
  u16(tiff, 0x010F); u16(tiff, 2); u32(tiff, 4); tiff += std::string("abc\0", 4);  // Make
  u16(tiff, 0x0112); u16(tiff, 3); u32(tiff, 1); u16(tiff, orientation); u16(tiff, 0);
  u32(tiff, 0);     // next IFD
  std::string body = std::string("Exif\0\0", 6) + tiff;
  const size_t len = body.size() + 2;
  std::string app1 = {char(0xFF), char(0xE1), char(len >> 8), char(len & 0xff)};
  return jpeg.substr(0, 2) + app1 + body + jpeg.substr(2);
}

std::string EncodeWebp(const Rgba& img, bool lossless) {
  uint8_t* out = nullptr;
  const size_t n = lossless
      ? WebPEncodeLosslessRGBA(img.px.data(), img.width, img.height, img.width * 4, &out)
      : WebPEncodeRGBA(img.px.data(), img.width, img.height, img.width * 4, 95, &out);
  if (n == 0) throw std::runtime_error("webp encode failed");
  std::string s(reinterpret_cast<char*>(out), n);
  WebPFree(out);
  return s;
}

std::string EncodeAnimatedWebp(const Rgba& first, const Rgba& second) {
  WebPAnimEncoderOptions opts;
  if (!WebPAnimEncoderOptionsInit(&opts)) throw std::runtime_error("webp anim options");
  WebPAnimEncoder* enc = WebPAnimEncoderNew(first.width, first.height, &opts);
  WebPConfig config;
  if (!WebPConfigInit(&config)) throw std::runtime_error("webp config");
  config.lossless = 1;
  int ts = 0;
  for (const Rgba* frame : {&first, &second}) {
    WebPPicture pic;
    if (!WebPPictureInit(&pic)) throw std::runtime_error("webp picture");
    pic.use_argb = 1;
    pic.width = frame->width;
    pic.height = frame->height;
    if (!WebPPictureImportRGBA(&pic, frame->px.data(), frame->width * 4) ||
        !WebPAnimEncoderAdd(enc, &pic, ts, &config)) {
      throw std::runtime_error("webp anim add");
    }
    WebPPictureFree(&pic);
    ts += 100;
  }
  WebPData data;
  WebPDataInit(&data);
  if (!WebPAnimEncoderAdd(enc, nullptr, ts, nullptr) || !WebPAnimEncoderAssemble(enc, &data)) {
    throw std::runtime_error("webp anim assemble");
  }
  std::string s(reinterpret_cast<const char*>(data.bytes), data.size);
  WebPDataClear(&data);
  WebPAnimEncoderDelete(enc);
  return s;
}

namespace {
int GifWrite(GifFileType* gif, const GifByteType* data, int n) {
  static_cast<std::string*>(gif->UserData)->append(reinterpret_cast<const char*>(data), size_t(n));
  return n;
}
}  // namespace

std::string EncodeGif(const Rgba& img, bool interlaced) {
  // Palette: index 0 transparent, then the image's distinct colours.
  std::map<uint32_t, int> index;
  std::vector<GifColorType> colors = {{255, 0, 255}};
  for (size_t i = 0; i < img.px.size(); i += 4) {
    if (img.px[i + 3] == 0) continue;
    const uint32_t key = (img.px[i] << 16) | (img.px[i + 1] << 8) | img.px[i + 2];
    if (index.try_emplace(key, int(colors.size())).second) {
      colors.push_back({img.px[i], img.px[i + 1], img.px[i + 2]});
    }
  }
  while (colors.size() < 256) colors.push_back({0, 0, 0});
  std::string out;
  int err = 0;
  GifFileType* gif = EGifOpen(&out, GifWrite, &err);
  ColorMapObject* map = GifMakeMapObject(256, colors.data());
  EGifSetGifVersion(gif, true);  // GIF89a: the transparency extension needs it
  EGifPutScreenDesc(gif, img.width, img.height, 8, 0, map);
  GraphicsControlBlock gcb{};
  gcb.TransparentColor = 0;
  gcb.DisposalMode = DISPOSAL_UNSPECIFIED;
  GifByteType ext[4];
  const size_t n = EGifGCBToExtension(&gcb, ext);
  EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, int(n), ext);
  EGifPutImageDesc(gif, 0, 0, img.width, img.height, interlaced, nullptr);
  std::vector<int> order;
  if (interlaced) {
    for (int y = 0; y < img.height; y += 8) order.push_back(y);
    for (int y = 4; y < img.height; y += 8) order.push_back(y);
    for (int y = 2; y < img.height; y += 4) order.push_back(y);
    for (int y = 1; y < img.height; y += 2) order.push_back(y);
  } else {
    for (int y = 0; y < img.height; ++y) order.push_back(y);
  }
  std::vector<GifPixelType> line(size_t(img.width));
  for (int y : order) {
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* p = &img.px[(size_t(y) * img.width + x) * 4];
      line[size_t(x)] = p[3] == 0 ? 0 : GifPixelType(index.at((p[0] << 16) | (p[1] << 8) | p[2]));
    }
    EGifPutLine(gif, line.data(), img.width);
  }
  EGifCloseFile(gif, &err);
  GifFreeMapObject(map);
  return out;
}

}  // namespace vigil::testing
