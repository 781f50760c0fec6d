#!/usr/bin/env python3
"""Times onnxruntime (CPU, THREADS intra-op threads) on a model directory's ONNX files at the
batches of `pare bench --int8`, on the data set's first test images, and prints them beside
Pare's rows. Usage: bench_ort.py MODEL_DIR PARE_JSON TEST_IMAGES_IDX_GZ [THREADS]"""
import gzip
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort


def images(path, n):
    raw = gzip.open(path).read()
    count, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    x = np.frombuffer(raw[16:16 + min(n, count) * rows * cols], dtype=np.uint8)
    return x.reshape(-1, 1, rows, cols).astype(np.float32) / 255


def median_ms(session, x, repeats):
    for _ in range(3):
        session.run(["logits"], {"input": x})
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(["logits"], {"input": x})
        times.append((time.perf_counter() - t) * 1000)
    return sorted(times)[len(times) // 2]


def main():
    model_dir, pare_json, test_images = sys.argv[1:4]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    rows = json.load(open(pare_json))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    sessions = {}
    # The float model: the finetuned weights' ONNX when present (what pare quantize quantizes).
    floats = [n for n in ("model.finetuned.onnx", "model.onnx") if os.path.exists(os.path.join(model_dir, n))]
    for key, name in (("float", floats[0] if floats else None), ("int8", "model.int8.onnx")):
        if name and os.path.exists(os.path.join(model_dir, name)):
            sessions[key] = ort.InferenceSession(os.path.join(model_dir, name), options, providers=["CPUExecutionProvider"])
    data = images(test_images, 500)
    print(f"onnxruntime {ort.__version__}, {threads} threads; images/s (median of timed runs)")
    print("batch   pare float   onednn float   pare int8   ort float   ort int8   pare int8 / ort int8")
    for r in rows:
        n = r["batch"]
        x = data[:n]
        reps = 60 if n == 1 else 9
        ort_rate = {k: n * 1000 / median_ms(s, x, reps) for k, s in sessions.items()}
        f, q = ort_rate.get("float", float("nan")), ort_rate.get("int8", float("nan"))
        print(f"{n:5d}  {r['floatImagesPerSecond']:11.0f}  {r['oneDNNFloatImagesPerSecond']:13.0f}  {r['int8ImagesPerSecond']:10.0f}  "
              f"{f:10.0f}  {q:9.0f}  {r['int8ImagesPerSecond'] / q:12.2f}x")


if __name__ == "__main__":
    main()
