#!/usr/bin/env bash
# README command 1: set up (Debian packages + build) and run the main job on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/bootstrap.sh
mkdir -p results
exec ./build/moesim run --out results/default.h5 "$@"
