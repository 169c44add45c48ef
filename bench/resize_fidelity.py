#!/usr/bin/env python3
"""How close the pixels a fixed-square encoder (Gemma 3, 896 px) gets are to
what the model's authors feed it, for large pictures, in two pipelines:

  llama-server: libmtmd's bilinear resize straight to 896 x 896 (it samples
                four source pixels per output pixel: no anti-aliasing);
  vigil:        the worker's box-filter downscale to cover 896 px
                (src/worker/imaging/resize.cc), then the same libmtmd resize;
  reference:    transformers' Gemma3ImageProcessor, which resizes with PIL's
                bilinear filter (anti-aliased when it shrinks).

Both resizers are re-implemented here line for line in numpy (the C++ and
the libmtmd source they mirror are named above); PIL is the reference.
Prints and writes bench/results/resize-fidelity.json: mean absolute error
(0-255) and PSNR of each pipeline against the reference, per picture.

    python3 bench/resize_fidelity.py   (needs numpy and PIL; runs in seconds)
"""
import json
import math
import os
import platform
import sys

import numpy as np
from PIL import Image, ImageDraw

SIDE = 896


def box_spans(src, dst):
    return [(i * src // dst, max((i + 1) * src // dst, i * src // dst + 1)) for i in range(dst)]


def vigil_downscale(a, w, h):
    """resize.cc Downscale: separable area average, rounded to nearest."""
    def reduce(x, to, axis):
        spans = box_spans(x.shape[axis], to)
        parts = [np.take(x, range(b, e), axis=axis).astype(np.uint32).sum(axis=axis, keepdims=True)
                 for b, e in spans]
        n = np.array([e - b for b, e in spans], dtype=np.uint32)
        s = np.concatenate(parts, axis=axis)
        shape = [1, 1, 1]
        shape[axis] = to
        n = n.reshape(shape)
        return ((s + n // 2) // n).astype(np.uint8)
    return reduce(reduce(a, w, 1), h, 0)


def cover_size(w, h, side):
    """resize.cc CoverSize."""
    shorter = min(w, h)
    if shorter <= side:
        return w, h
    scaled = lambda s: max((s * side + shorter // 2) // shorter, side)  # noqa: E731
    return (side, scaled(h)) if w <= h else (scaled(w), side)


def mtmd_bilinear(a, tw, th):
    """libmtmd img_tool::resize_bilinear: corner-aligned, four taps, rounded."""
    h, w = a.shape[:2]
    xr = (w - 1) / (tw - 1) if tw > 1 else 0.0
    yr = (h - 1) / (th - 1) if th > 1 else 0.0
    px = np.arange(tw, dtype=np.float32) * np.float32(xr)
    py = np.arange(th, dtype=np.float32) * np.float32(yr)
    x0 = np.minimum(px.astype(int), w - 1)
    y0 = np.minimum(py.astype(int), h - 1)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    xl, yl = (px - x0)[None, :, None], (py - y0)[:, None, None]
    f = a.astype(np.float32)
    top = f[y0][:, x0] + (f[y0][:, x1] - f[y0][:, x0]) * xl
    bottom = f[y1][:, x0] + (f[y1][:, x1] - f[y1][:, x0]) * xl
    out = top + (bottom - top) * yl
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def pictures():
    rng = np.random.default_rng(7)
    w, h = 1800, 1200
    y, x = np.mgrid[0:h, 0:w]
    stripes = np.stack([(x * 7 + y * 3) & 255, (x ^ y) & 255, ((x // 3 + y // 2) % 2) * 255], -1)
    yield "fine stripes 1800x1200 (the e2e test's pattern)", stripes.astype(np.uint8)
    scene = Image.new("RGB", (2400, 1600), (90, 140, 200))
    d = ImageDraw.Draw(scene)
    for i in range(60):  # shapes with hard edges, thin lines: a drawing or a page
        x0, y0 = rng.integers(0, 2300), rng.integers(0, 1500)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if i % 3 == 0:
            d.ellipse([x0, y0, x0 + rng.integers(20, 300), y0 + rng.integers(20, 300)], fill=colour)
        elif i % 3 == 1:
            d.rectangle([x0, y0, x0 + rng.integers(20, 300), y0 + rng.integers(20, 300)], fill=colour)
        else:
            d.line([x0, y0, rng.integers(0, 2400), rng.integers(0, 1600)], fill=colour, width=2)
    yield "shapes and 2-px lines 2400x1600", np.asarray(scene)
    smooth = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], -1).astype(np.float32)
    grain = rng.normal(0, 12, smooth.shape)
    yield "gradient with sensor-like grain 1800x1200", np.clip(smooth + grain, 0, 255).astype(np.uint8)


def score(got, ref):
    diff = got.astype(np.float64) - ref.astype(np.float64)
    mse = float(np.mean(diff ** 2))
    return {"mean_abs_error": round(float(np.mean(np.abs(diff))), 2),
            "psnr_db": round(10 * math.log10(255 ** 2 / mse), 2) if mse else None}


def main():
    rows = []
    for name, a in pictures():
        ref = np.asarray(Image.fromarray(a).resize((SIDE, SIDE), Image.BILINEAR))
        server = mtmd_bilinear(a, SIDE, SIDE)
        cw, ch = cover_size(a.shape[1], a.shape[0], SIDE)
        ours = mtmd_bilinear(vigil_downscale(a, cw, ch), SIDE, SIDE)
        row = {"picture": name, "llama_server_vs_reference": score(server, ref),
               "vigil_vs_reference": score(ours, ref)}
        rows.append(row)
        print(f"{name}: llama-server {row['llama_server_vs_reference']}, vigil {row['vigil_vs_reference']}")
    out = {"script": "bench/resize_fidelity.py", "side": SIDE,
           "reference": "PIL Image.resize BILINEAR (transformers Gemma3ImageProcessor's resample)",
           "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                       "numpy": np.__version__, "pil": Image.__version__},
           "rows": rows}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "resize-fidelity.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
