#!/usr/bin/env python3
"""Writes Fashion-MNIST (the IDX files) out as PNG image folders in torchvision's layout.

    OUT/train/<class>/<index>.png   the training file's first images
    OUT/val/<class>/<index>.png     its last --validation images (Pare's held-out split)
    OUT/test/<class>/<index>.png    the test file

File names are the images' zero-padded indices, so `pare --data folder:OUT` reads them in
the IDX order and trains exactly as `--data fashion-mnist` does (docs/data.md). PNGs are
written by Pillow, 8-bit grey.

    .venv/bin/python scripts/fashion-mnist-to-folders.py OUT [--idx DIR] [--validation N] [--limit N]
"""
import argparse
import gzip
import os
import struct
import sys

import numpy as np
from PIL import Image

# Folders sort by name into classes 0-9 (as torchvision's ImageFolder sorts them): the number
# first keeps Fashion-MNIST's label order.
CLASSES = [f"{i}_{name}" for i, name in enumerate(
    ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"])]


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(directory, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(directory, name)
        if os.path.exists(p):
            return p
    sys.exit(f"{os.path.join(directory, stem)}.gz: file not found (apt-get install dataset-fashion-mnist)")


def write(images, labels, root, first_index, width):
    for c in CLASSES:
        os.makedirs(os.path.join(root, c), exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image, mode="L").save(os.path.join(root, CLASSES[label], f"{first_index + i:0{width}d}.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--idx", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--validation", type=int, default=10000, help="last training images written to val/ (default 10000)")
    ap.add_argument("--limit", type=int, help="use only the first N images of each file")
    a = ap.parse_args()
    train_x, train_y = read_idx(find(a.idx, "train-images-idx3-ubyte")), read_idx(find(a.idx, "train-labels-idx1-ubyte"))
    test_x, test_y = read_idx(find(a.idx, "t10k-images-idx3-ubyte")), read_idx(find(a.idx, "t10k-labels-idx1-ubyte"))
    if a.limit:
        train_x, train_y, test_x, test_y = train_x[:a.limit], train_y[:a.limit], test_x[:a.limit], test_y[:a.limit]
    if not 0 < a.validation < len(train_x):
        sys.exit(f"--validation {a.validation}: expected 1..{len(train_x) - 1}")
    cut = len(train_x) - a.validation
    width = len(str(len(train_x)))
    write(train_x[:cut], train_y[:cut], os.path.join(a.out, "train"), 0, width)
    write(train_x[cut:], train_y[cut:], os.path.join(a.out, "val"), cut, width)
    write(test_x, test_y, os.path.join(a.out, "test"), 0, width)
    print(f"{a.out}: {cut} train, {a.validation} val, {len(test_x)} test PNG images in {len(CLASSES)} class folders")


if __name__ == "__main__":
    main()
