#!/usr/bin/env bash
# The whole test suite: set-up, then Swift Testing in release mode (numeric tests are
# slow unoptimised), one test at a time (the executed-MAC counter is process-wide).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift test -c release --disable-xctest --no-parallel "$@"
