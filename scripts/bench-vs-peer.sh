#!/usr/bin/env bash
# Measures pare and the PyTorch peer benchmark back to back on this machine and prints the
# ratios (docs/benchmarks.md). PEER_DIR holds the peer's run_peer.sh and peer_torch.py;
# its venv with torch lives outside this repository.
# Usage: scripts/bench-vs-peer.sh PEER_DIR [repeats]
set -euo pipefail
if [ $# -lt 1 ] || [ ! -x "$1/run_peer.sh" ]; then
  echo "usage: scripts/bench-vs-peer.sh PEER_DIR [repeats]  (PEER_DIR: the directory with run_peer.sh)" >&2
  exit 2
fi
peer=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
repeats=${2:-9}
scripts/setup.sh
swift build -c release --product pare >&2
out=${BENCH_OUT:-/tmp/pare-bench}
mkdir -p "$out"
.build/release/pare bench --repeats "$repeats" --profile --json > "$out/pare.json"
PEER_OUT="$out/peer.json" "$peer/run_peer.sh" 2 >&2
python3 scripts/compare_bench.py "$out/pare.json" "$out/peer.json"
