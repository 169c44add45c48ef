// exif.h: just enough EXIF to stand a JPEG upright.
//
// Phones store pixels as the sensor saw them and record the rotation in the
// EXIF Orientation tag (0x0112) of IFD0. A model given the raw pixels sees a
// sideways picture, so the worker applies the tag. The parser is hand-written
// because only this one tag is needed and a full EXIF library is a large
// attack surface for untrusted input; every read is bounds-checked.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "worker/imaging/image.h"

namespace vigil::imaging {

// Returns the orientation (1..8) from the first APP1 Exif segment of a JPEG,
// or 1 when there is none or it is malformed (a bad tag is no reason to
// reject an otherwise good picture).
int JpegExifOrientation(std::string_view jpeg);

// Applies EXIF orientation `orientation` (1..8; other values: no-op).
// Orientations 5..8 swap width and height.
RgbImage Orient(RgbImage image, int orientation);

}  // namespace vigil::imaging
