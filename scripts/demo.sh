#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, and runs the demo.
# Idempotent; safe to re-run. Output database: runs/demo.db.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
bin=${BUILD_DIR:-build}/cli/turnwise
db=runs/demo.db
mkdir -p runs
rm -f "$db" "$db-wal" "$db-shm"

# What the demo runs today. The learner (SFT warm start, then RL) is being built; until it
# lands, the demo runs the most complete pipeline the project has: the household environment
# played by its scripted expert, a noisy expert (the SFT data source) and a random policy, every
# turn of every episode written to the SQLite trajectory store, then the store queried back.
"$bin" eval --env household --policy expert --policy noisy_expert --policy random \
  --split valid_seen --split valid_unseen --db "$db"
echo
"$bin" runs list --db "$db"
echo
echo "Full-text search over what the agents saw, straight from SQLite:"
sqlite3 -header -column "$db" \
  "SELECT e.policy, count(DISTINCT e.id) AS episodes_mentioning_a_microwave
   FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid JOIN episodes e ON e.id = t.episode_id
   WHERE turns_fts MATCH '\"microwave\"' GROUP BY e.policy;"
echo
echo "Browse the episodes: $bin web --db $db   (then open http://127.0.0.1:8080/api/runs)"
