"""Encoded image bytes to the pixel tensor a transformers vision encoder takes:

- decoded with PIL (the runtime has already checked the format and the
  declared size with `vigil_worker.images.sniff`): upright (EXIF orientation
  applied), alpha composited on white, first frame only, 8-bit RGB;
- reduced with an area-average (box) filter to the smallest size of the same
  aspect ratio whose shorter side still covers the encoder's side (a JPEG
  may decode at a reduced DCT scale first, never below that size): what the
  done frame reports as the model-side size. This saves time and changes
  little, because the next step filters as it shrinks too;
- then the checkpoint's own image processor (preprocessor_config.json)
  resizes to the encoder's grid and normalises, as training saw it.
(vigil's llama.cpp worker passes full size instead, because libmtmd's resize
does not filter: see src/worker/engine/llama_engine.h image_size.)

Errors: InvalidImageError for a body PIL cannot decode. Thread-safety: pure.
"""
from __future__ import annotations

import io

from vigil_worker.errors import InvalidImageError


def cover_size(width: int, height: int, side: int) -> tuple[int, int]:
    """The smallest (w, h) with the aspect ratio of (width, height) whose
    shorter side is >= side; (width, height) when already that small
    (src/worker/imaging/resize.cc CoverSize)."""
    shorter = min(width, height)
    if side <= 0 or shorter <= side:
        return width, height

    def scaled(v: int) -> int:
        return max((v * side + shorter // 2) // shorter, side)

    return scaled(width), scaled(height)


def decode(data: bytes, side: int):
    """A PIL RGB image, upright, reduced to cover `side`."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if img.format == "JPEG":
                img.draft("RGB", cover_size(width, height, side))  # DCT scaling, not below the cover size
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                img = Image.new("RGB", rgba.size, (255, 255, 255))
                img.paste(rgba, mask=rgba.getchannel("A"))
            else:
                img = img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise InvalidImageError("cannot decode the image: %s" % e) from e
    target = cover_size(img.width, img.height, side)
    if target != img.size:
        img = img.resize(target, Image.Resampling.BOX)
    return img
