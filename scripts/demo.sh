#!/usr/bin/env bash
# The main job, for now: build, then a short supernet training on Fashion-MNIST
# followed by BN recalibration and validation of probe paths. Extra arguments go to
# `pare demo` (e.g. --epochs 3, --train-limit 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product pare >&2
.build/release/pare demo --run runs/demo "$@"
