#!/usr/bin/env python3
"""Writes vigil's sample images (used by `vigil demo`) into this directory.

    python3 samples/make_samples.py

Deterministic drawings made with Pillow (python3-pil): no downloads, no
licences to track. Re-running rewrites identical files.
"""
from pathlib import Path

from PIL import Image, ImageDraw

here = Path(__file__).resolve().parent


def shapes() -> Image.Image:
    im = Image.new("RGB", (256, 192), (245, 245, 235))
    d = ImageDraw.Draw(im)
    d.rectangle((20, 30, 110, 120), fill=(220, 40, 40))
    d.ellipse((130, 40, 230, 140), fill=(40, 90, 220))
    d.polygon([(60, 180), (120, 130), (180, 180)], fill=(40, 170, 70))
    d.text((150, 160), "vigil", fill=(0, 0, 0))
    return im


def gradient() -> Image.Image:
    im = Image.new("RGB", (320, 200))
    px = im.load()
    for y in range(200):
        for x in range(320):
            px[x, y] = (x * 255 // 319, y * 255 // 199, 128)
    return im


def stripes() -> Image.Image:
    im = Image.new("RGB", (160, 160), (255, 255, 255))
    d = ImageDraw.Draw(im)
    for i in range(0, 160, 20):
        d.rectangle((i, 0, i + 9, 159), fill=(30, 30, 30))
    return im


if __name__ == "__main__":
    shapes().save(here / "shapes.png", optimize=True)
    gradient().save(here / "gradient.jpg", quality=85)
    stripes().save(here / "stripes.webp", lossless=True)
    print("wrote", ", ".join(p.name for p in sorted(here.glob("*.*")) if p.suffix != ".py"))
