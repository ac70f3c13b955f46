#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, and runs the demo.
# Idempotent; safe to re-run. Output database: runs/demo.db.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
bin=${BUILD_DIR:-build}/cli/turnwise
mkdir -p runs

# Until the trainer lands, the demo runs the most complete thing the project does: the
# trajectory store under load, measured against its baselines in the same run.
"$bin" bench store --episodes 10000 --repeats 3
