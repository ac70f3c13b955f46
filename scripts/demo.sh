#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, and runs the demo training
# run (configs/demo.json): SFT warm start on noisy-expert demonstrations of `household`, then
# multi-turn RL; every episode and turn in runs/demo.db. Idempotent; safe to re-run (the demo
# run directory and database are replaced).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
bin=${BUILD_DIR:-build}/cli/turnwise
mkdir -p runs
rm -rf runs/demo runs/demo.db runs/demo.db-wal runs/demo.db-shm
# Two cores: one LibTorch thread pool, no OpenMP spinning against the env threads.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
time "$bin" train --config configs/demo.json "$@"
echo
"$bin" runs list --db runs/demo.db
