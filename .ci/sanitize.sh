#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (CMake preset `asan`, build-asan/), then
# each parser's libFuzzer target for a short budget (tests/fuzz/run.sh). Called by .ci/run after the test suite.
# Usage: bash .ci/sanitize.sh [FUZZ_SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/bootstrap.sh --tests >/dev/null # packages (clang, libclang-rt-dev) and the default build
cmake --preset asan >/dev/null
cmake --build build-asan -j "$(nproc)"
# SimGrid switches actor stacks itself: ASan cannot follow those switches for stack-use-after-return, and the
# Debian SimGrid is not built with ASan: what it keeps until exit is suppressed (.ci/lsan.supp), not our leaks.
export ASAN_OPTIONS=detect_stack_use_after_return=0:abort_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/.ci/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# LeakSanitizer checks the plain C++ (unit tests); it crashes scanning SimGrid's actor stacks, so the processes that
# run a SimGrid engine (engine and CLI tests) run without it.
(cd build-asan && ctest --output-on-failure -j "$(nproc)" --timeout 1200 -R '^unit:')
(cd build-asan && ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 ctest --output-on-failure -j "$(nproc)" --timeout 1200 -E '^unit:')
bash tests/fuzz/run.sh "${1:-10}"
