#!/usr/bin/env python3
"""Writes vigil's sample images and their questions (used by `vigil demo` and
the end-to-end model test) into this directory.

    python3 samples/make_samples.py        (inside scripts/env.sh: needs PIL)

Each sample is a fixed scene of the default model's world (tools/train/
shapes.py), drawn by the same code the model was trained on, then saved in a
different format and size so the demo exercises the whole image path:
decode (PNG, JPEG, WebP), resize up or down to the model's 224 px, encode.
questions.json holds, per file, questions with their canonical answers.
The scenes are chosen so that a broken path shows:
- swapped colour channels turn a red object blue (and blue red);
- cropping instead of resizing loses the objects near the corners of the
  640 px image, so its count and description change.
Re-running rewrites identical files.
"""
import json
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent / "tools" / "train"))
from shapes import Obj, Scene, describe, render  # noqa: E402

WHITE, GREY, TINT = (255, 255, 255), (230, 230, 230), (240, 236, 250)

# name, scene, how it is saved, questions (answers are derived, not typed)
SAMPLES = [
    ("01-red-circle.png", Scene([Obj("circle", "red", 70, 60, 75)], WHITE, 11), ("PNG", 224),
     ["What color is the circle?", "How many shapes are there?", "Is there a blue circle?"]),
    ("02-corners.jpg",
     Scene([Obj("square", "blue", 4, 4, 50), Obj("triangle", "green", 168, 6, 50),
            Obj("circle", "yellow", 6, 166, 52), Obj("square", "red", 170, 170, 50)], GREY, 22),
     ("JPEG", 640),
     ["Describe the image.", "How many squares are there?", "What shape is the green object?"]),
    ("03-three.webp",
     Scene([Obj("triangle", "orange", 20, 120, 70), Obj("circle", "purple", 120, 20, 60),
            Obj("square", "black", 130, 130, 60)], TINT, 33), ("WEBP", 320),
     ["What is in this image?", "What color is the square?", "Is there a purple circle?"]),
    ("04-small-blue.png", Scene([Obj("triangle", "blue", 60, 50, 78)], WHITE, 44), ("PNG", 100),
     ["What color is the triangle?", "How many circles are there?"]),
]


def answer(objs, q):
    """The canonical answer of the world's rules for the questions above."""
    words = ["zero", "one", "two", "three", "four"]
    ql = q.lower()
    if ql.startswith(("describe", "what is in")):
        return describe(objs)
    if ql.startswith("how many shapes"):
        return words[len(objs)]
    if ql.startswith("how many"):
        shape = ql.split()[2].rstrip("s")
        return words[sum(o.shape == shape for o in objs)]
    if ql.startswith("what color is the"):
        shape = ql.split()[4].rstrip("?")
        return next(o.color for o in objs if o.shape == shape)
    if ql.startswith("what shape is the"):
        color = ql.split()[4]
        return next(o.shape for o in objs if o.color == color)
    if ql.startswith("is there a"):
        _, _, _, color, shape = ql.rstrip("?").split()
        return "yes" if any(o.color == color and o.shape == shape for o in objs) else "no"
    raise ValueError(q)


def main():
    questions = {}
    for name, scene, (fmt, side), qs in SAMPLES:
        img = render(scene)
        if side != img.width:
            img = img.resize((side, side), resample=3)  # bicubic
        kw = {"quality": 90} if fmt == "JPEG" else {"lossless": True} if fmt == "WEBP" else {}
        img.save(here / name, fmt, **kw)
        questions[name] = [[q, answer(scene.objects, q)] for q in qs]
    (here / "questions.json").write_text(json.dumps(questions, indent=1) + "\n")


if __name__ == "__main__":
    main()
