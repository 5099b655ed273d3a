#!/usr/bin/env bash
# README command 2: set up (Debian packages + build) and run the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/bootstrap.sh --tests
cd "${MOESIM_BUILD_DIR:-build}"
exec ctest --output-on-failure -j "$(nproc)" "$@"
