#!/usr/bin/env bash
# Colour inputs from image folders on this machine, end to end as a user runs them: writes a
# synthetic photo folder per space (JPEG, another aspect than the input, so every image is
# cropped and resized), then for rgb32-elastic and rgb96-vww measures the one-time decode,
# supernet training throughput and peak resident memory (training stopped with Ctrl-C
# after SECONDS), a second start (reading the cache), and search candidates per minute.
# Usage: scripts/bench-images.sh [COUNT (default 50000)] [SECONDS (default 150)]
set -euo pipefail
count=${1:-50000}
seconds=${2:-150}
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product pare >&2
P=.build/release/pare
out=runs/bench-images
mkdir -p "$out"
rss() { awk -F: '/Maximum resident set size/ { printf "%.0f MiB", $2 / 1024 }' "$1"; }
for case in "rgb32-elastic 40x32" "rgb96-vww 128x96"; do
  set -- $case
  space=$1 size=$2 data="$out/photos-$1-$count"
  [ -d "$data" ] || .venv/bin/python scripts/make-image-folder.py "$data" --count "$count" --classes 2 --size "$size" --split
  rm -rf "$data/.pare-cache" "$out/run-$space"
  # Classes: the folder's two (the space file is copied with classes: 2).
  sed 's/^classes: .*/classes: 2/' "search-spaces/$space.yaml" > "$out/$space.yaml"
  echo "== $space on $count ${size} JPEGs: first start (decodes), $seconds s of training"
  /usr/bin/time -v -o "$out/time-$space.txt" timeout -s INT "$seconds" \
    $P train --space "$out/$space.yaml" --data "folder:$data" --epochs 1 --probes 0 --run "$out/run-$space" > "$out/train-$space.log" 2>&1 || true
  grep -E "^decoded" "$out/train-$space.log" || true
  grep -E "^epoch .*img/s" "$out/train-$space.log" | tail -1 || true
  echo "peak resident memory: $(rss "$out/time-$space.txt")"
  echo "== $space: second start (cache mapped), 45 s"
  rm -rf "$out/run2-$space"
  /usr/bin/time -v -o "$out/time2-$space.txt" timeout -s INT 45 \
    $P train --space "$out/$space.yaml" --data "folder:$data" --epochs 1 --probes 0 --run "$out/run2-$space" > "$out/train2-$space.log" 2>&1 || true
  echo "decode lines (0: read from the cache): $(grep -cE "^decoded" "$out/train2-$space.log" || true)"
  echo "peak resident memory: $(rss "$out/time2-$space.txt")"
  echo "== $space: search, population 16, 2 generations, 1000 validation images"
  $P search --run "$out/run-$space" --population 16 --generations 2 --validation-images 1000 --name bench 2>&1 | grep -E "generation 2/2" || true
done
