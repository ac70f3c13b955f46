#!/usr/bin/env bash
# Configures and builds Turnwise (Release with debug info) into build/ with -j2.
# Usage: scripts/build.sh [extra cmake -D options]
# Env: BUILD_DIR (default build), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-2}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir" -j"$jobs"
