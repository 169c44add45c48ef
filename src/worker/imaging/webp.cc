// WebP through libwebp. Still images decode with WebPDecodeRGBAInto into a
// buffer we size after the limit check; animated ones go through WebPDemux
// and yield their first frame placed on a white canvas (what a browser shows
// before the animation starts).
#include <webp/decode.h>
#include <webp/demux.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "worker/imaging/codecs.h"

namespace vigil::imaging::internal {
namespace {

Result<RgbImage> DecodeStill(const uint8_t* data, size_t size, int width, int height) {
  std::vector<uint8_t> rgba(size_t(width) * size_t(height) * 4);
  if (!WebPDecodeRGBAInto(data, size, rgba.data(), rgba.size(), width * 4)) {
    return Invalid("webp", "corrupt or truncated bitstream");
  }
  return CompositeOnWhite(width, height, rgba.data());
}

struct DemuxDeleter {
  void operator()(WebPDemuxer* d) const { WebPDemuxDelete(d); }
};

Result<CodecOutput> DecodeFirstFrame(std::string_view bytes, const Limits& limits) {
  WebPData whole{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  std::unique_ptr<WebPDemuxer, DemuxDeleter> demux(WebPDemux(&whole));
  if (!demux) return Invalid("webp", "corrupt animation container");
  const int cw = static_cast<int>(WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_WIDTH));
  const int ch = static_cast<int>(WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_HEIGHT));
  if (Status s = CheckDimensions("webp", cw, ch, limits); !s) return s.error();
  WebPIterator it;
  if (!WebPDemuxGetFrame(demux.get(), 1, &it)) return Invalid("webp", "animation has no frame");
  const int fx = it.x_offset, fy = it.y_offset, fw = it.width, fh = it.height;
  Result<RgbImage> frame = Invalid("webp", "frame outside the canvas");
  if (fw > 0 && fh > 0 && fx >= 0 && fy >= 0 && fx + fw <= cw && fy + fh <= ch) {
    frame = DecodeStill(it.fragment.bytes, it.fragment.size, fw, fh);
  }
  WebPDemuxReleaseIterator(&it);
  if (!frame) return frame.error();
  CodecOutput out;
  out.width = cw;
  out.height = ch;
  out.image.width = cw;
  out.image.height = ch;
  out.image.pixels.assign(size_t(cw) * size_t(ch) * 3, 0xff);
  for (int y = 0; y < fh; ++y) {
    std::memcpy(&out.image.pixels[(size_t(fy + y) * cw + fx) * 3],
                &frame->pixels[size_t(y) * fw * 3], size_t(fw) * 3);
  }
  return out;
}

}  // namespace

Result<CodecOutput> DecodeWebp(std::string_view bytes, const Limits& limits) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  WebPBitstreamFeatures f;
  if (WebPGetFeatures(data, bytes.size(), &f) != VP8_STATUS_OK) {
    return Invalid("webp", "corrupt header");
  }
  if (f.has_animation) return DecodeFirstFrame(bytes, limits);
  if (Status s = CheckDimensions("webp", f.width, f.height, limits); !s) return s.error();
  Result<RgbImage> image = DecodeStill(data, bytes.size(), f.width, f.height);
  if (!image) return image.error();
  CodecOutput out;
  out.width = f.width;
  out.height = f.height;
  out.image = std::move(*image);
  return out;
}

}  // namespace vigil::imaging::internal
