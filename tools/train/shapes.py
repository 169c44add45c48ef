#!/usr/bin/env python3
"""The synthetic world of vigil's default model: shapes on a plain background.

    python3 tools/train/shapes.py --out DIR --n 8 --seed 7     # PNGs + answers.json

One scene = a 224x224 canvas, a light background, 1-4 filled, non-overlapping
objects (circle, square, triangle) in 7 colours, each 12-35 % of the side.
Every question the model is trained and evaluated on is generated here with its
canonical answer, so the training script, the evaluation and the README
samples share one definition of the world. Needs only numpy and PIL.

Canonical answers (lower case, no trailing period):
- description: groups of equal (colour, shape), ordered by colour in the order
  of COLORS, then by shape in the order of SHAPES, counted in words:
  "a red circle", "a red circle and two blue squares",
  "a red circle, a green square and two blue triangles".
- counts: "zero" ... "four"; colour: a colour name; shape: a shape name;
  yes/no: "yes" or "no".
"""
from __future__ import annotations

import argparse
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 224
SHAPES = ["circle", "square", "triangle"]
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles"}
# Saturated, mutually distinct RGB values; each object gets a small jitter so
# the model learns colour names, not exact pixel values.
COLORS = {
    "red": (215, 35, 35),
    "green": (35, 160, 60),
    "blue": (40, 80, 215),
    "yellow": (240, 205, 25),
    "orange": (245, 130, 20),
    "purple": (135, 50, 175),
    "black": (25, 25, 25),
}
COLOR_NAMES = list(COLORS)
NUMBERS = ["zero", "one", "two", "three", "four"]
MIN_FRAC, MAX_FRAC = 0.12, 0.35
SUPERSAMPLE = 2  # drawn at 2x and box-reduced: smooth edges, like real pictures


@dataclass(frozen=True)
class Obj:
    shape: str
    color: str
    x: int  # bounding box, canvas pixels
    y: int
    s: int  # side of the (square) bounding box


@dataclass
class Scene:
    objects: list[Obj]
    background: tuple[int, int, int]
    seed: int


def random_background(rng: random.Random) -> tuple[int, int, int]:
    r = rng.random()
    if r < 0.35:
        return (255, 255, 255)
    if r < 0.65:
        g = rng.randint(205, 245)
        return (g, g, g)
    return tuple(rng.randint(210, 255) for _ in range(3))  # a light tint


def random_scene(rng: random.Random, n: int | None = None) -> Scene:
    """Rejection-samples non-overlapping boxes (with a gap) for 1-4 objects."""
    seed = rng.getrandbits(32)
    n = n or rng.randint(1, 4)
    while True:
        objs: list[Obj] = []
        for _ in range(n):
            for _attempt in range(100):
                s = rng.randint(round(MIN_FRAC * SIZE), round(MAX_FRAC * SIZE))
                x, y = rng.randint(0, SIZE - s), rng.randint(0, SIZE - s)
                gap = 4
                if all(x + s + gap <= o.x or o.x + o.s + gap <= x or
                       y + s + gap <= o.y or o.y + o.s + gap <= y for o in objs):
                    objs.append(Obj(rng.choice(SHAPES), rng.choice(COLOR_NAMES), x, y, s))
                    break
            else:
                break  # crowded: start this scene again
        if len(objs) == n:
            return Scene(objs, random_background(rng), seed)


def render(scene: Scene, jitter: int = 12) -> Image.Image:
    rng = random.Random(scene.seed)
    k = SUPERSAMPLE
    img = Image.new("RGB", (SIZE * k, SIZE * k), scene.background)
    d = ImageDraw.Draw(img)
    for o in scene.objects:
        rgb = tuple(min(255, max(0, c + rng.randint(-jitter, jitter))) for c in COLORS[o.color])
        x0, y0, x1, y1 = o.x * k, o.y * k, (o.x + o.s) * k - 1, (o.y + o.s) * k - 1
        if o.shape == "circle":
            d.ellipse([x0, y0, x1, y1], fill=rgb)
        elif o.shape == "square":
            d.rectangle([x0, y0, x1, y1], fill=rgb)
        else:  # upright isosceles triangle filling the box
            d.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=rgb)
    return img.reduce(k)


# ------------------------------------------------------------- answers --


def article(word: str) -> str:
    """English indefinite article for the word that follows: "an orange", "a red"."""
    return "an" if word[0] in "aeiou" else "a"


def describe(objs: list[Obj]) -> str:
    groups: dict[tuple[int, int], int] = {}
    for o in objs:
        key = (COLOR_NAMES.index(o.color), SHAPES.index(o.shape))
        groups[key] = groups.get(key, 0) + 1
    parts = []
    for (c, s), n in sorted(groups.items()):
        shape = SHAPES[s] if n == 1 else PLURAL[SHAPES[s]]
        parts.append(f"{article(COLOR_NAMES[c]) if n == 1 else NUMBERS[n]} {COLOR_NAMES[c]} {shape}")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# Question templates per type. Paraphrases teach the model to match prompts
# loosely; TEMPLATES[t][0] is the canonical form used for evaluation.
TEMPLATES = {
    "describe": [
        "What is in this image?", "Describe the image.", "What is in the image?",
        "What's in this image?", "Describe this image.", "What do you see?",
        "What is in this picture?", "Describe the picture.", "What does the image show?",
        "What shapes are in the image?", "What objects are in this image?",
        "List the shapes in the image.", "Describe what you see.", "What is this?",
    ],
    "count_all": [
        "How many shapes are there?", "How many shapes are in the image?",
        "How many objects are there?", "How many objects are in this image?",
        "Count the shapes.", "How many shapes do you see?", "Count the objects in the image.",
        "What is the number of shapes?",
    ],
    "count_shape": [
        "How many {P} are there?", "How many {P} are in the image?", "Count the {P}.",
        "How many {P} do you see?", "How many {P} are in this picture?",
        "What is the number of {P}?",
    ],
    "color": [
        "What color is the {S}?", "What colour is the {S}?", "What is the color of the {S}?",
        "What is the colour of the {S}?", "Which color is the {S}?",
        "What color is the {S} in the image?", "The {S} is what color?",
    ],
    "yesno": [
        "Is there {A} {C} {S}?", "Is there {A} {C} {S} in the image?", "Do you see {A} {C} {S}?",
        "Does the image contain {A} {C} {S}?", "Is there any {C} {S}?",
        "Are there any {C} {P}?", "Is {A} {C} {S} in this picture?",
    ],
    "shape": [
        "What shape is the {C} object?", "What shape is the {C} one?",
        "What is the {C} shape?", "Which shape is {C}?", "What shape is {C}?",
        "What shape is the {C} thing?", "What kind of shape is the {C} object?",
    ],
}
TYPES = list(TEMPLATES)


def fill(template: str, shape: str = "", color: str = "") -> str:
    return template.format(S=shape, P=PLURAL.get(shape, ""), C=color, A=article(color or "x"))


def possible_types(objs: list[Obj]) -> list[str]:
    types = ["describe", "count_all", "count_shape", "yesno"]
    if any(sum(o.shape == s for o in objs) == 1 for s in SHAPES):
        types.append("color")
    if any(sum(o.color == c for o in objs) == 1 for c in COLOR_NAMES):
        types.append("shape")
    return types


def question(objs: list[Obj], qtype: str, rng: random.Random,
             canonical: bool = False) -> tuple[str, str]:
    """(question, answer) of a type; canonical picks template 0, random otherwise."""
    t = TEMPLATES[qtype][0] if canonical else rng.choice(TEMPLATES[qtype])
    if qtype == "describe":
        return t, describe(objs)
    if qtype == "count_all":
        return t, NUMBERS[len(objs)]
    if qtype == "count_shape":
        s = rng.choice(SHAPES)
        return fill(t, s), NUMBERS[sum(o.shape == s for o in objs)]
    if qtype == "color":
        s = rng.choice([s for s in SHAPES if sum(o.shape == s for o in objs) == 1])
        return fill(t, s), next(o.color for o in objs if o.shape == s)
    if qtype == "shape":
        c = rng.choice([c for c in COLOR_NAMES if sum(o.color == c for o in objs) == 1])
        return fill(t, color=c), next(o.shape for o in objs if o.color == c)
    if qtype == "yesno":
        present = {(o.color, o.shape) for o in objs}
        if rng.random() < 0.5:  # balanced: half the questions name a present object
            c, s = rng.choice(sorted(present))
        else:
            # absent pairs; often one that shares its colour or shape with a
            # present object, so the model must bind colour to shape
            absent = [(c, s) for c in COLOR_NAMES for s in SHAPES if (c, s) not in present]
            near = [(c, s) for c, s in absent
                    if any(c == pc or s == ps for pc, ps in present)]
            c, s = rng.choice(near if near and rng.random() < 0.7 else absent)
        return fill(t, s, c), "yes" if (c, s) in present else "no"
    raise ValueError(qtype)


def vary_case(q: str, rng: random.Random) -> str:
    """Users type loosely: lower case, no '?', all caps now and then."""
    r = rng.random()
    if r < 0.25:
        q = q.lower()
    elif r < 0.30:
        q = q.upper()
    if rng.random() < 0.25:
        q = q.rstrip("?.")
    return q


# --------------------------------------------------- serving-path noise --


def degrade(img: Image.Image, rng: random.Random) -> Image.Image:
    """What the serving path may do to a picture before the model sees it:
    JPEG at various qualities, a trip through another size (100-640 px), then
    the resize back to the model's size (224)."""
    r = rng.random()
    if r < 0.45:
        side = rng.choice([rng.randint(90, 224), rng.randint(224, 700)])
        filt = rng.choice([Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX, Image.NEAREST])
        img = img.resize((side, side), filt)
    if rng.random() < 0.4:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(40, 95))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if img.size != (SIZE, SIZE):
        # llama.cpp's clip resize is bilinear; vigil box-filters large images first
        img = img.resize((SIZE, SIZE), rng.choice([Image.BILINEAR, Image.BOX]))
    return img


def main() -> int:
    ap = argparse.ArgumentParser(description="draw scenes with their canonical QA pairs")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    index = []
    for i in range(args.n):
        scene = random_scene(rng)
        name = f"scene-{i:03d}.png"
        render(scene).save(args.out / name)
        qa = {t: question(scene.objects, t, rng, canonical=True) for t in possible_types(scene.objects)}
        index.append({"file": name, "qa": qa})
    (args.out / "answers.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"{args.n} scenes in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
