// JPEG through libturbojpeg's TurboJPEG 3 API. That API reports errors as
// return codes (libjpeg's default error_exit would call exit()), and it can
// decode at 1/2, 1/4 or 1/8 scale straight from the DCT coefficients, which
// makes a 48 MP phone photo cost a fraction of a full decode when the model
// only needs ~900 pixels a side.
#include <turbojpeg.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "worker/imaging/codecs.h"
#include "worker/imaging/exif.h"

namespace vigil::imaging::internal {
namespace {

struct TjDeleter {
  void operator()(void* h) const { tj3Destroy(h); }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

// The smallest scaling factor (<= 1) whose output still covers target_side
// on the shorter side; 1/1 when target_side <= 0 or nothing smaller fits.
tjscalingfactor PickScale(int width, int height, int target_side) {
  tjscalingfactor best = TJUNSCALED;
  if (target_side <= 0) return best;
  int n = 0;
  const tjscalingfactor* factors = tj3GetScalingFactors(&n);
  for (int i = 0; factors && i < n; ++i) {
    const tjscalingfactor f = factors[i];
    if (f.num > f.denom) continue;  // never upscale
    const int sw = TJSCALED(width, f), sh = TJSCALED(height, f);
    if (std::min(sw, sh) < target_side) continue;
    if (f.num * best.denom < best.num * f.denom) best = f;  // f < best
  }
  return best;
}

// CMYK JPEGs (Photoshop, print workflows) almost all carry Adobe's APP14
// marker and store inverted inks, so, as browsers do, each channel is
// (255 - ink) already: R = C' * K' / 255.
std::vector<uint8_t> CmykToRgb(const std::vector<uint8_t>& cmyk) {
  std::vector<uint8_t> rgb(cmyk.size() / 4 * 3);
  for (size_t i = 0, o = 0; i + 3 < cmyk.size(); i += 4, o += 3) {
    const unsigned k = cmyk[i + 3];
    for (int c = 0; c < 3; ++c) rgb[o + c] = static_cast<uint8_t>((cmyk[i + c] * k + 127) / 255);
  }
  return rgb;
}

}  // namespace

Result<CodecOutput> DecodeJpeg(std::string_view bytes, const Limits& limits, int target_side) {
  TjHandle tj(tj3Init(TJINIT_DECOMPRESS));
  if (!tj) return MakeError(ErrorCode::kInternal, "jpeg: tj3Init failed");
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  if (tj3DecompressHeader(tj.get(), data, bytes.size()) != 0) {
    return Invalid("jpeg", tj3GetErrorStr(tj.get()));
  }
  const int width = tj3Get(tj.get(), TJPARAM_JPEGWIDTH);
  const int height = tj3Get(tj.get(), TJPARAM_JPEGHEIGHT);
  if (Status s = CheckDimensions("jpeg", width, height, limits); !s) return s.error();
  if (tj3Get(tj.get(), TJPARAM_PRECISION) != 8) {
    return MakeError(ErrorCode::kUnsupportedImageFormat, "jpeg: only 8-bit samples are supported");
  }
  // A truncated JPEG only draws a libjpeg *warning* and decodes with the
  // missing rows painted grey; the model would then describe grey. Treat
  // every warning as corruption.
  tj3Set(tj.get(), TJPARAM_STOPONWARNING, 1);
  tj3Set(tj.get(), TJPARAM_MAXPIXELS, static_cast<int>(std::min<int64_t>(limits.max_pixels, INT32_MAX)));
  // Progressive scans buffer all coefficients: cap that memory too.
  tj3Set(tj.get(), TJPARAM_MAXMEMORY, 1024);

  const int orientation = JpegExifOrientation(bytes);
  tjscalingfactor scale = TJUNSCALED;
  if (!tj3Get(tj.get(), TJPARAM_LOSSLESS)) scale = PickScale(width, height, target_side);
  if (tj3SetScalingFactor(tj.get(), scale) != 0) scale = TJUNSCALED;

  RgbImage image;
  image.width = TJSCALED(width, scale);
  image.height = TJSCALED(height, scale);
  const size_t count = size_t(image.width) * size_t(image.height);
  // libjpeg cannot convert CMYK/YCCK to RGB: decode to CMYK and convert here.
  const int colorspace = tj3Get(tj.get(), TJPARAM_COLORSPACE);
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    std::vector<uint8_t> cmyk(count * 4);
    if (tj3Decompress8(tj.get(), data, bytes.size(), cmyk.data(), 0, TJPF_CMYK) != 0) {
      return Invalid("jpeg", tj3GetErrorStr(tj.get()));
    }
    image.pixels = CmykToRgb(cmyk);
  } else {
    image.pixels.resize(count * 3);
    if (tj3Decompress8(tj.get(), data, bytes.size(), image.pixels.data(), 0, TJPF_RGB) != 0) {
      return Invalid("jpeg", tj3GetErrorStr(tj.get()));
    }
  }
  CodecOutput out;
  const bool swap = orientation >= 5 && orientation <= 8;
  out.width = swap ? height : width;
  out.height = swap ? width : height;
  out.image = Orient(std::move(image), orientation);
  return out;
}

}  // namespace vigil::imaging::internal
