#!/usr/bin/env bash
# The whole test suite: set-up, then Swift Testing in release mode (numeric tests are
# slow unoptimised). Suites run in parallel: the engine keeps no process-wide state.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift test -c release --disable-xctest "$@"
