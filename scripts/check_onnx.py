#!/usr/bin/env python3
"""Runs an ONNX model with onnxruntime on a float32 NCHW batch and compares its logits with
Pare's. Usage: check_onnx.py MODEL.onnx INPUT.f32 EXPECTED.f32 N C H W CLASSES [TOLERANCE]
Prints the largest absolute difference; exits 1 when it exceeds the tolerance (default 1e-4)."""
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model, inputs, expected = sys.argv[1:4]
    n, c, h, w, k = map(int, sys.argv[4:9])
    tolerance = float(sys.argv[9]) if len(sys.argv) > 9 else 1e-4
    onnx.checker.check_model(onnx.load(model), full_check=True)
    x = np.fromfile(inputs, dtype="<f4").reshape(n, c, h, w)
    want = np.fromfile(expected, dtype="<f4").reshape(n, k)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"input": x})
    diff = float(np.max(np.abs(got - want)))
    print(f"onnxruntime {ort.__version__}, opset {onnx.load(model).opset_import[0].version}: max |logit difference| {diff:.3g} over {n}x{k}")
    sys.exit(0 if diff <= tolerance else 1)


if __name__ == "__main__":
    main()
