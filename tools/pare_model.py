#!/usr/bin/env python3
"""Reference loader of a model exported by `pare export`, in Python with numpy only.

It rebuilds the network from `model.json` (format version 2, its `network` field) and a
safetensors weight file, following docs/formats.md and nothing else, and runs it on
images. Written as a check that the export format is complete, and as a starting point
for using an exported model outside Pare.

    python3 tools/pare_model.py MODEL_DIR --idx t10k-images-idx3-ubyte.gz [--limit N] [--out logits.csv]
    python3 tools/pare_model.py MODEL_DIR --raw pixels.u8 --count N [--weights model.finetuned.safetensors]
    python3 tools/pare_model.py MODEL_DIR --idx FILE --check predictions.csv   # compare with `pare eval --predictions`
    python3 tools/pare_model.py MODEL_DIR --folder DIR/test --check predictions.csv   # an image folder's split (Pillow)

Output CSV: index,predicted,logit_0,...,logit_{K-1}. With --check, the logits must agree
with the file's within --tolerance, and so must the predicted class wherever the top two
logits are further apart than the tolerance; exit status 1 otherwise.
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    """name -> float32 array of a safetensors file (F32 tensors only, as Pare writes)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {entry['dtype']}, expected F32")
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[base + start:base + end], dtype="<f4").reshape(entry["shape"])
    return tensors


def read_idx_images(path, limit=None):
    """uint8 images [N, C, H, W] of an IDX image file (.gz or raw)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    images = np.frombuffer(data[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)
    if images.ndim == 3:  # [N, H, W]: one channel
        images = images[:, None, :, :]
    return images[:limit] if limit else images


def read_folder_images(root, channels, size, fit="crop", limit=None, skip_bad=False):
    """uint8 images [N, C, H, W] and labels of a class-folder split, read as Pare reads it:
    class folders sorted by name, .png/.jpg/.jpeg files ordered by file name then class,
    fitted with Pillow's BILINEAR resize (Pare's fitting matches it byte for byte; JPEG
    decoders may differ by a grey level). Needs Pillow."""
    import math
    from PIL import Image

    def half_up(x):  # Swift's rounded(): halves away from zero (Python's round() goes to even)
        return int(math.floor(x + 0.5))
    classes = sorted(e for e in os.listdir(root) if not e.startswith(".") and os.path.isdir(os.path.join(root, e)))
    files = []
    for label, name in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, name), followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for f in filenames:
                if not f.startswith(".") and os.path.splitext(f)[1].lower() in (".png", ".jpg", ".jpeg"):
                    rel = os.path.relpath(os.path.join(dirpath, f), root)
                    files.append((f.encode(), label, rel.encode(), os.path.join(dirpath, f)))
    files.sort(key=lambda t: (t[0], t[1], t[2]))
    files = files[:limit] if limit else files
    mode = "L" if channels == 1 else "RGB"
    out, labels = [], []
    for _, label, _, path in files:
        try:
            im = Image.open(path).convert(mode)
        except Exception:
            if skip_bad:  # as pare --skip-bad-images
                continue
            raise
        w, h = im.size
        if fit == "crop":
            if w > h:
                im = im.crop(((w - h) // 2, 0, (w - h) // 2 + h, h))
            elif h > w:
                im = im.crop((0, (h - w) // 2, w, (h - w) // 2 + w))
            im = im.resize((size, size), Image.BILINEAR) if im.size != (size, size) else im
        elif fit == "pad":
            nw, nh = (size, max(1, half_up(h * size / w))) if w >= h else (max(1, half_up(w * size / h)), size)
            canvas = Image.new(mode, (size, size))
            canvas.paste(im.resize((nw, nh), Image.BILINEAR) if im.size != (nw, nh) else im, ((size - nw) // 2, (size - nh) // 2))
            im = canvas
        else:
            im = im.resize((size, size), Image.BILINEAR) if im.size != (size, size) else im
        a = np.asarray(im, dtype=np.uint8)
        out.append(a[None] if channels == 1 else a.transpose(2, 0, 1))
        labels.append(label)
    return np.stack(out), np.array(labels)


class Model:
    def __init__(self, directory, weights=None):
        with open(os.path.join(directory, "model.json")) as f:
            self.description = json.load(f)
        if "network" not in self.description:
            raise ValueError("model.json has no 'network' description (format version 2 or later needed; re-export)")
        self.net = self.description["network"]
        self.tensors = read_safetensors(os.path.join(directory, weights or self.description["weights"]))
        self.mean = np.array(self.description["normalization"]["mean"], dtype=np.float64)
        self.std = np.array(self.description["normalization"]["std"], dtype=np.float64)

    def t(self, name):
        return self.tensors[name].astype(np.float64)

    def layer(self, spec, x):
        """Convolution (no bias) -> BatchNorm with running statistics -> activation."""
        w = self.t(spec["name"] + ".weight")
        k, s, p, groups = spec["kernel"], spec["stride"], spec["padding"], spec["groups"]
        n, c, h, wd = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        ho = (h + 2 * p - k) // s + 1
        wo = (wd + 2 * p - k) // s + 1
        y = np.zeros((n, spec["outputChannels"], ho, wo))
        for i in range(k):
            for j in range(k):
                patch = xp[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]
                if groups == 1:
                    y += np.einsum("oc,nchw->nohw", w[:, :, i, j], patch)
                elif groups == c == spec["outputChannels"]:
                    y += w[:, 0, i, j][None, :, None, None] * patch
                else:
                    raise ValueError(f"{spec['name']}: groups {groups} not supported")
        bn = spec["batchNorm"]
        scale = self.t(bn + ".weight") / np.sqrt(self.t(bn + ".running_var") + self.net["batchNormEpsilon"])
        y = (y - self.t(bn + ".running_mean")[None, :, None, None]) * scale[None, :, None, None] + self.t(bn + ".bias")[None, :, None, None]
        if spec["activation"] == "relu":
            y = np.maximum(y, 0)
        elif spec["activation"] != "none":
            raise ValueError(f"{spec['name']}: activation {spec['activation']}")
        return y

    def chain(self, layers, x):
        for spec in layers:
            x = self.layer(spec, x)
        return x

    def block(self, b, x):
        combine = b["combine"]
        if combine == "split_main_interleave":
            half = x.shape[1] // 2
            a, m = x[:, :half], self.chain(b["main"], x[:, half:])
            y = np.empty((x.shape[0], 2 * half) + m.shape[2:])
            y[:, 0::2], y[:, 1::2] = a, m
            return y
        if combine == "concat_projection_main":
            return np.concatenate([self.chain(b["projection"], x), self.chain(b["main"], x)], axis=1)
        if combine == "add_input_main":
            return x + self.chain(b["main"], x)
        if combine == "add_input_main_relu":
            return np.maximum(x + self.chain(b["main"], x), 0)
        if combine == "add_projection_main_relu":
            return np.maximum(self.chain(b["projection"], x) + self.chain(b["main"], x), 0)
        if combine == "main":
            return self.chain(b["main"], x)
        raise ValueError(f"block {b['index']}: combine {combine}")

    def logits(self, pixels):
        """Logits [N, classes] of uint8 pixels [N, C, H, W]."""
        x = pixels.astype(np.float64) * self.net["pixelScale"]
        x = (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        x = self.layer(self.net["stem"], x)
        for b in self.net["blocks"]:
            x = self.block(b, x)
        if self.net.get("head") is not None:
            x = self.layer(self.net["head"], x)
        x = x.mean(axis=(2, 3))
        fc = self.net["classifier"]
        return x @ self.t(fc["name"] + ".weight").T + self.t(fc["name"] + ".bias")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="directory written by pare export")
    ap.add_argument("--weights", help="weight file of the directory (default: model.json's 'weights')")
    ap.add_argument("--idx", help="IDX image file (.gz or raw)")
    ap.add_argument("--raw", help="raw uint8 pixels, N x C x H x W")
    ap.add_argument("--folder", help="a split of an image folder (DIR/test: class folders of PNG/JPEG files; needs Pillow)")
    ap.add_argument("--count", type=int, help="images in --raw")
    ap.add_argument("--limit", type=int, help="first N images only")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--out", help="CSV of predictions and logits (default: stdout unless --check)")
    ap.add_argument("--check", help="CSV from `pare eval --predictions` to compare with")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()

    model = Model(args.model, args.weights)
    c, h, w = model.description["inputShape"]
    if args.idx:
        images = read_idx_images(args.idx, args.limit)
    elif args.raw:
        images = np.fromfile(args.raw, dtype=np.uint8).reshape(args.count, c, h, w)[:args.limit]
    elif args.folder:
        options = model.description["provenance"].get("images") or {}
        images, _ = read_folder_images(args.folder, c, h, options.get("fit", "crop"), args.limit, options.get("skipBadImages", False))
    else:
        ap.error("give --idx, --raw or --folder")
    if images.shape[1:] != (c, h, w):
        sys.exit(f"error: images are {images.shape[1:]}, the model takes {(c, h, w)}")
    logits = np.concatenate([model.logits(images[i:i + args.batch]) for i in range(0, len(images), args.batch)])
    predicted = logits.argmax(axis=1)

    if args.check:
        theirs = np.loadtxt(args.check, delimiter=",", skiprows=1, ndmin=2)
        if len(theirs) != len(logits):
            sys.exit(f"error: {args.check} has {len(theirs)} images, computed {len(logits)}")
        their_logits = theirs[:, 3:]
        diff = np.abs(their_logits - logits).max()
        top2 = np.sort(logits, axis=1)[:, -2:]
        clear = (top2[:, 1] - top2[:, 0]) > args.tolerance
        disagree = np.nonzero(clear & (theirs[:, 2].astype(int) != predicted))[0]
        print(f"{len(logits)} images: max |logit difference| {diff:.2e}, {len(disagree)} clear predictions differ, "
              f"{int((~clear).sum())} within tolerance of a tie")
        if diff > args.tolerance or len(disagree):
            sys.exit(1)
        return

    out = open(args.out, "w") if args.out else sys.stdout
    out.write("index,predicted," + ",".join(f"logit_{k}" for k in range(logits.shape[1])) + "\n")
    for i, (p, row) in enumerate(zip(predicted, logits)):
        out.write(f"{i},{p}," + ",".join(f"{v:.7g}" for v in row) + "\n")


if __name__ == "__main__":
    main()
