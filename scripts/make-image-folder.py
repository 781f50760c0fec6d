#!/usr/bin/env python3
"""Writes a synthetic labelled photo folder (torchvision's ImageFolder layout) for trying
and benchmarking `pare --data folder:DIR`: each class is a shape of its own colour at a
random place and size on a noisy background, saved as JPEG (or PNG) with Pillow.

    .venv/bin/python scripts/make-image-folder.py OUT --count 50000 --classes 2 --size 128x96 [--format png] [--split]

--split writes OUT/train, OUT/val (10 %) and OUT/test (10 %) instead of OUT/<class>.
"""
import argparse
import colorsys
import os

import numpy as np
from PIL import Image, ImageDraw


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--size", default="128x96", help="WIDTHxHEIGHT of every image")
    ap.add_argument("--format", choices=["jpg", "png"], default="jpg")
    ap.add_argument("--split", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    rng = np.random.default_rng(a.seed)
    for i in range(a.count):
        label = (i + i // 10) % a.classes  # every split gets every class
        background = rng.integers(40, 200, (h, w, 3), dtype=np.int16) // 2 + rng.integers(0, 60, 3, dtype=np.int16)
        im = Image.fromarray(background.clip(0, 255).astype(np.uint8), "RGB")
        r, g, b = colorsys.hsv_to_rgb(label / a.classes, 0.9, 0.95)
        s = int(rng.integers(min(w, h) // 4, min(w, h) // 2 + 1))
        x, y = int(rng.integers(0, w - s + 1)), int(rng.integers(0, h - s + 1))
        shape = ImageDraw.Draw(im).ellipse if label % 2 == 0 else ImageDraw.Draw(im).rectangle
        shape((x, y, x + s, y + s), fill=(int(255 * r), int(255 * g), int(255 * b)))
        split = "" if not a.split else ("test" if i % 10 == 9 else "val" if i % 10 == 8 else "train")
        folder = os.path.join(a.out, split, f"class{label}")
        os.makedirs(folder, exist_ok=True)
        im.save(os.path.join(folder, f"{i:06d}.{a.format}"), quality=90) if a.format == "jpg" else im.save(os.path.join(folder, f"{i:06d}.png"))
    print(f"{a.out}: {a.count} {w}x{h} {a.format.upper()} images in {a.classes} classes")


if __name__ == "__main__":
    main()
