#!/usr/bin/env bash
# Installs the Debian packages moesim needs (only those missing) and builds it into build/.
# Usage: bash .ci/bootstrap.sh [--tests]
#   (none)   what `moesim run` needs to build and run: compiler, CMake and the libraries (README command 1);
#   --tests  also what the test suite uses: Catch2, Python with h5py/pandas/matplotlib (result checks, plots),
#            clang + libclang-rt-dev (sanitizer and fuzz builds), slurm-wlm + munge (`cli: slurm`) (README command 2).
# Used by the README's two commands, CI and the container recipes. Runs as root on Debian 12 (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(cmake make g++ pkg-config libsimgrid-dev libboost-dev libcli11-dev libhdf5-dev libspdlog-dev
          nlohmann-json3-dev libmetis-dev zlib1g-dev libssl-dev libtomlplusplus-dev)
TEST_PACKAGES=(catch2 python3-h5py python3-matplotlib python3-pandas clang libclang-rt-dev slurm-wlm munge)
tests=0
for a in "$@"; do
  case "$a" in
    --tests) tests=1; PACKAGES+=("${TEST_PACKAGES[@]}") ;;
    *) echo "bootstrap.sh: unknown argument '$a' (expected --tests)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "moesim: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test suite is built when asked for, or when its packages are there anyway (a build that had it keeps it).
BUILD_TESTS=OFF
if [ "$tests" -eq 1 ] || dpkg -s catch2 >/dev/null 2>&1; then BUILD_TESTS=ON; fi
BUILD_DIR=${MOESIM_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=${MOESIM_BUILD_TYPE:-RelWithDebInfo} -DMOESIM_BUILD_TESTS=$BUILD_TESTS \
  ${MOESIM_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
