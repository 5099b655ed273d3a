#!/usr/bin/env bash
# Installs the Debian packages moesim needs (only those missing) and builds it into build/.
# Used by the README's two commands and by CI. Runs as root on Debian 12 (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(cmake make g++ pkg-config libsimgrid-dev libboost-dev libcli11-dev libhdf5-dev libspdlog-dev
          catch2 nlohmann-json3-dev libmetis-dev zlib1g-dev libssl-dev python3-h5py python3-matplotlib python3-pandas
          clang libclang-rt-dev libtomlplusplus-dev slurm-wlm munge)
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

BUILD_DIR=${MOESIM_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=${MOESIM_BUILD_TYPE:-RelWithDebInfo} ${MOESIM_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
