#!/usr/bin/env bash
# Inference speed of a quantized model: Pare's float engine and int8 (oneDNN) path, then
# onnxruntime on the directory's model.onnx and model.int8.onnx, same machine, same run.
# Usage: scripts/bench-int8.sh MODEL_DIR [threads]   (MODEL_DIR: pare export --onnx, then pare quantize --onnx)
set -euo pipefail
if [ $# -lt 1 ] || [ ! -f "$1/model.int8.safetensors" ]; then
  echo "usage: scripts/bench-int8.sh MODEL_DIR [threads]  (MODEL_DIR must hold model.int8.safetensors: run pare quantize first)" >&2
  exit 2
fi
dir=$1
threads=${2:-2}
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product pare >&2
out=$(mktemp)
OMP_NUM_THREADS=$threads .build/release/pare bench --int8 "$dir" --threads "$threads" --json > "$out"
.venv/bin/python scripts/bench_ort.py "$dir" "$out" /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz "$threads"
rm -f "$out"
