#!/usr/bin/env bash
# Post-training quantization of one exported model with every observer (and power-of-two
# scales), each on a copy of the directory; prints one table row per setting from its
# quantize-report.json (docs/quantization.md). Usage: scripts/quantize-study.sh MODEL_DIR [calibration-batches]
set -euo pipefail
if [ $# -lt 1 ] || [ ! -f "$1/model.json" ]; then
  echo "usage: scripts/quantize-study.sh MODEL_DIR [calibration-batches]" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
batches=${2:-10}
cd "$(dirname "$0")/.."
swift build -c release --product pare >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf "| observer | scales | val float | val int8 | test float | test int8 | test drop (points) | agreement | lowest SQNR (dB) | logits SQNR (dB) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
for setting in "minmax" "percentile" "kl" "minmax --power-of-two"; do
  rm -rf "$work/m" && cp -r "$src" "$work/m"
  # shellcheck disable=SC2086
  .build/release/pare quantize "$work/m" --calibration-batches "$batches" --observer $setting > /dev/null
  python3 - "$work/m/quantize-report.json" "$setting" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = sys.argv[2]
v, t = r["validation"], r["test"]
layers = [l for l in r["layers"] if l["node"] != "logits"]
low = min(layers, key=lambda l: l["sqnr"])
logits = [l for l in r["layers"] if l["node"] == "logits"][0]
print(f"| {s.split()[0]} | {'power of two' if 'power' in s else 'exact'} | {v['float']:.4f} | {v['int8']:.4f} | {t['float']:.4f} | {t['int8']:.4f} | "
      f"{100 * (t['float'] - t['int8']):+.2f} | {100 * t['agreement']:.2f} % | {low['sqnr']:.1f} ({low['node']}) | {logits['sqnr']:.1f} |")
PY
done
