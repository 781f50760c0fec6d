#!/usr/bin/env python3
"""Runs an int8 (QDQ) ONNX model with onnxruntime on a float32 NCHW batch and compares it with
Pare's int8 path. Usage: check_onnx_int8.py MODEL.onnx INPUT.f32 EXPECTED.f32 N C H W CLASSES
Prints the argmax agreement and the share of logits within one step of the logits' 8-bit grid
(their range / 255); exits 1 unless ≥ 99.5 % of predictions agree and ≥ 99 % of logits are within
a step (a float rounding in the runtime can move one activation by one step, not more)."""
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model, inputs, expected = sys.argv[1:4]
    n, c, h, w, k = map(int, sys.argv[4:9])
    onnx.checker.check_model(onnx.load(model), full_check=True)
    x = np.fromfile(inputs, dtype="<f4").reshape(n, c, h, w)
    want = np.fromfile(expected, dtype="<f4").reshape(n, k)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"input": x})
    agreement = float(np.mean(got.argmax(1) == want.argmax(1)))
    step = max(float(want.max() - want.min()) / 255, 1e-12)
    within = float(np.mean(np.abs(got - want) <= step))
    print(f"onnxruntime {ort.__version__}: argmax agreement {agreement:.4f} over {n} images, "
          f"{within:.4f} of logits within one step ({step:.3g}), max |logit difference| {float(np.max(np.abs(got - want))):.3g}")
    sys.exit(0 if agreement >= 0.995 and within >= 0.99 else 1)


if __name__ == "__main__":
    main()
