#!/usr/bin/env bash
# The method learning table (issue: turn-aware RL methods): every method preset trained from the
# same SFT checkpoint on `household` with the same env-step budget (bench/learning/household.json:
# groups × group size × turn limit × iterations), for several seeds, then evaluated on
# valid_seen and valid_unseen. Prints one markdown row per method: success mean and spread
# (min–max) over seeds, and the policy's token entropy and the update's approximate KL in the
# last iteration.
#
#   bench/learning-table.sh --checkpoint runs/sft_household/final [--methods "grpo gigpo"]
#                           [--seeds "1 2 3"] [--out runs/learning] [--set key=value ...]
#
# Each run is an ordinary `turnwise train` run with its own store (OUT/<method>-<seed>.db), so
# `turnwise web --db …` opens any of them. Runs already finished in OUT are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TURNWISE:-${BUILD_DIR:-build}/cli/turnwise}
checkpoint=""
methods="grpo gigpo gigpo_empg gigpo_epo loop seeupo grpo_llds"
seeds="1 2 3"
out=runs/learning
sets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --checkpoint) checkpoint=$2; shift 2 ;;
    --methods) methods=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    *) echo "learning-table: unknown option '$1' (known: --checkpoint --methods --seeds --out --set)" >&2; exit 2 ;;
  esac
done
if [[ -z "$checkpoint" || ! -f "$checkpoint/config.json" ]]; then
  echo "learning-table: --checkpoint must name an SFT checkpoint folder (config.json, model.safetensors)" >&2
  exit 2
fi
mkdir -p "$out"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

# The value of a metric in the last iteration that has it (from `turnwise runs show`).
# (The output is captured first: with pipefail, a reader that stops early would fail the pipe.)
metric() {
  local shown
  shown=$("$bin" runs show --db "$1" 1 2>/dev/null || true)
  awk -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? "nan" : v) }' <<< "$shown"
}
finished() {
  local shown
  shown=$("$bin" runs show --db "$1" 1 2>/dev/null || true)
  grep -Eq '^ *status +finished' <<< "$shown"
}

for m in $methods; do
  for s in $seeds; do
    db="$out/$m-$s.db"
    if [[ -f "$db" ]] && finished "$db"; then continue; fi
    rm -rf "$db" "$db-wal" "$db-shm" "$out/runs/$m-seed$s"
    echo "== $m seed $s" >&2
    "$bin" train --config bench/learning/household.json --method "$m" \
      --set "model.checkpoint=$checkpoint" --set "seed=$s" --set "name=$m-seed$s" \
      --set "output.dir=$out/runs" --set "output.db=$db" "${sets[@]}" > "$out/$m-$s.log" 2>&1 ||
      { echo "learning-table: $m seed $s failed, see $out/$m-$s.log" >&2; exit 1; }
  done
done

echo "| method | valid_seen success (mean, min–max) | valid_unseen success (mean, min–max) | entropy | approx. KL | seeds |"
echo "|---|---:|---:|---:|---:|---:|"
for m in $methods; do
  vs=(); vu=(); en=(); kl=()
  for s in $seeds; do
    db="$out/$m-$s.db"
    vs+=("$(metric "$db" eval/valid_seen/success)")
    vu+=("$(metric "$db" eval/valid_unseen/success)")
    en+=("$(metric "$db" train/entropy)")
    kl+=("$(metric "$db" loss/approx_kl)")
  done
  summary() { printf '%s\n' "$@" | awk '{ x = $1 * 100; s += x; if (NR == 1 || x < lo) lo = x; if (NR == 1 || x > hi) hi = x }
    END { printf "%.1f %% (%.1f–%.1f)", s / NR, lo, hi }'; }
  mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.4f", s / NR }'; }
  echo "| $m | $(summary "${vs[@]}") | $(summary "${vu[@]}") | $(mean "${en[@]}") | $(mean "${kl[@]}") | $(echo $seeds | wc -w) |"
done
