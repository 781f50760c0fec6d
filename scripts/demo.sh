#!/usr/bin/env bash
# The main job, for now: build, then train the Fashion-MNIST ShuffleNetV2 supernet for one
# epoch (SPOS, searchable widths) and score probe architectures after BN recalibration.
# Extra arguments go to `pare train` (e.g. --epochs 3, --train-limit 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product pare >&2
run=runs/demo-$(date +%Y%m%d-%H%M%S)
.build/release/pare train --space search-spaces/fmnist-shufflenet.yaml --data fashion-mnist --epochs 1 --run "$run" "$@"
