#!/usr/bin/env bash
# Installs every system package Turnwise builds, tests and benchmarks with, from Debian 12.
# Idempotent: when everything is present it only checks (a second or two) and exits.
# Usage: scripts/install-deps.sh            (needs root or sudo for apt-get)
set -euo pipefail

packages=(
  # toolchain
  g++ cmake make pkg-config ccache git
  # core, storage, web, cli
  libboost-dev libcpp-httplib-dev nlohmann-json3-dev libsqlite3-dev sqlite3
  libcli11-dev libspdlog-dev libfmt-dev
  # agents and training: LibTorch (CPU) with an optimised BLAS (otherwise reference BLAS, ~20x slower)
  libtorch-dev libopenblas0-openmp
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # reference implementations and peer baselines used by tests and benches
  python3 python3-torch python3-fastapi python3-uvicorn
  # the web UI is tested in a real browser
  chromium
)
# The web UI is built with npm. A machine may already carry Node.js from another source
# (NodeSource's nodejs bundles npm and conflicts with Debian's npm package): use it when present.
if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
