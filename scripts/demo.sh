#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, and runs the demo
# (configs/demo.json): a format-only SFT start on `frozenlake`, then multi-turn RL (GiGPO); every
# episode and turn lands in runs/demo.db. Prints the held-out success of the random
# policy, the start and the trained model, the learning curve, how to open the web UI, and last
# one line a script can read:
#   held-out success: BEFORE% -> AFTER% (+GAIN points, N episodes, SE S points)
# Idempotent; safe to re-run (the demo's run directory and database are replaced).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
bin=${BUILD_DIR:-build}/cli/turnwise
mkdir -p runs
rm -rf runs/demo runs/demo.db runs/demo.db-wal runs/demo.db-shm runs/demo-curve.svg runs/demo-train.log
# Two cores: one LibTorch thread pool, no OpenMP spinning against the env threads.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
SECONDS=0
"$bin" train --config configs/demo.json "$@" | tee runs/demo-train.log
held_out=$(grep '^held-out success: ' runs/demo-train.log | tail -1)
episodes=$(sed -E 's/.*, ([0-9]+) episodes,.*/\1/' <<<"$held_out")

echo
echo "== the uniform random policy on the same held-out maps"
"$bin" eval --env frozenlake --policy random --split valid --episodes "$episodes" --max-turns 10 \
  --db runs/demo.db | sed -n '/^policy  split  episodes/,/^$/p'

echo "== held-out success (valid maps, $episodes episodes each, sampled at temperature 1)"
before=$(sed -E 's/^held-out success: ([0-9.]+)% -> .*/\1/' <<<"$held_out")
after=$(sed -E 's/^held-out success: [0-9.]+% -> ([0-9.]+)%.*/\1/' <<<"$held_out")
printf '  %-34s %s%%\n' "format-only start (before RL)" "$before" "after RL" "$after"
echo "  reference ceiling, imitating the solver (bench/RESULTS.md, its own command):"
grep -m1 '^solver imitation on frozenlake' bench/RESULTS.md | sed 's/^/    /' || true

echo
echo "== learning curve: held-out success by iteration"
"$bin" plot --db runs/demo.db --run 1 --metric eval/valid/success --text
"$bin" plot --db runs/demo.db --run 1 --metric eval/valid/success --metric train/success \
  --title "demo: frozenlake, format-only start, GiGPO" --out runs/demo-curve.svg >/dev/null
echo "(drawn with the training episodes' success in runs/demo-curve.svg)"
echo
echo "== look at every episode, turn and advantage:"
echo "  $bin web --db runs/demo.db    # then open http://127.0.0.1:8080/"
echo "demo finished in $((SECONDS / 60)) min $((SECONDS % 60)) s"
echo "$held_out"
