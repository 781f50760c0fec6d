#!/usr/bin/env bash
# Kernel sharing on the MobileNetV2 space (docs/supernet-quality.md): the same supernet
# trained with separate weights per kernel/expansion (none), centre-cropped elastic kernels
# with expansions as leading slices (crop), and crop with OFA's learned kernel transform
# (transform); each scored on the same 12 spread candidates against a short stand-alone
# reference (1 epoch of 10 000 images per candidate; its noise is large, read tau loosely).
# Same seed, sampling, schedule and data for all: 5 epochs of uniform single-path sampling
# on 10 000 training images (--train-limit 20000 keeps the file's first 20 000, of which the
# last 10 000 are the validation split), lr 0.4 with a half-epoch warm-up, 1 thread.
set -euo pipefail
cd "$(dirname "$0")/.."
pare=${PARE:-.build/release/pare}
out=${OUT:-runs/mbv2-sharing}
epochs=${EPOCHS:-5}
mkdir -p "$out"
for sharing in none crop transform; do
  run=$out/$sharing
  if ! grep -qs '"final_probes"' "$run/summary.json"; then
    resume=(); [ -f "$run/run.json" ] && resume=(--resume)
    start=$SECONDS
    $pare train --space search-spaces/fmnist-mobilenetv2.yaml --run "$run" --epochs "$epochs" --probes 0 \
      --threads 1 --sampling uniform --lr 0.4 --warmup-epochs 0.5 --kernel-sharing "$sharing" --train-limit 20000 "${resume[@]}"
    echo "$sharing: $((SECONDS - start)) s" >&2
  fi
  if [ ! -f "$out/reference.json" ]; then
    $pare correlate --run "$run" --samples 12 --spread --epochs 1 --train-images 10000 --validation-images 2000 --threads 1 --out "$out/reference.json"
    cp "$out/reference.json" "$run/correlate.json"
  elif [ ! -f "$run/correlate.json" ]; then
    $pare correlate --run "$run" --standalone-from "$out/reference.json" --validation-images 2000 --threads 1 --out "$run/correlate.json"
  fi
done
python3 - "$out" <<'P'
import json, sys
out = sys.argv[1]
print("sharing    mean inherited  worst   best    tau vs the 1-epoch reference")
for s in ["none", "crop", "transform"]:
    d = json.load(open(f"{out}/{s}/correlate.json"))
    a = [x["inherited_score"] for x in d["architectures"]]
    print(f"{s:10} {sum(a) / len(a):.4f}          {min(a):.4f}  {max(a):.4f}  {d['kendall_tau']:+.3f}")
P
