#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test
# (ctest labels unit, integration, e2e, slow). Idempotent; safe to re-run.
# Usage: scripts/test.sh [ctest args, e.g. -L unit]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# Tests set their own LibTorch thread counts; keep OpenMP from oversubscribing 2 cores when
# two test processes run at once.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j2 --timeout 1200 "$@"
