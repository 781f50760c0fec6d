#!/usr/bin/env bash
# Measures pare and the PyTorch peer (../shared/bench) back to back on this machine and
# prints the ratios. The peer's venv lives outside the repository (see its README).
# Usage: scripts/bench-vs-peer.sh [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-9}
scripts/setup.sh
swift build -c release --product pare >&2
out=${BENCH_OUT:-/tmp/pare-bench}
mkdir -p "$out"
.build/release/pare bench --repeats "$repeats" --profile --json > "$out/pare.json"
PEER_OUT="$out/peer.json" ../shared/bench/run_peer.sh 2 >&2
python3 scripts/compare_bench.py "$out/pare.json" "$out/peer.json"
