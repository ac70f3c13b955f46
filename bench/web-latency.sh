#!/usr/bin/env bash
# Web API latency on a large database: builds a fixture database with EPISODES episodes (default
# 100,000, GiGPO-style groups of 4, 3-6 turns each, token ids with log-probs and entropies), starts
# `turnwise web` on a free 127.0.0.1 port, and measures median and p99 latency of the episodes
# list (several filters, a deep page, text search), one replay and one group, REQUESTS times each
# (sequential, keep-alive, after 5 warm-up requests); then times the UI itself in headless
# Chromium on the same server (bench/web-ui-timing.mjs). Stops the server when done.
# Usage: bench/web-latency.sh   (env: BUILD_DIR=build, EPISODES=100000, REQUESTS=200, UI_REPEATS=10)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
episodes=${EPISODES:-100000}
requests=${REQUESTS:-200}
bin="$build_dir/cli/turnwise"
fixture="$build_dir/tests/web/web_fixture"
for f in "$bin" "$fixture"; do
  [ -x "$f" ] || { echo "web-latency: $f is missing (build targets turnwise and web_fixture)" >&2; exit 1; }
done
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

start=$SECONDS
ids=$("$fixture" make "$tmp/bench.db" --episodes "$episodes" --tokenizer-dir "$tmp/ckpt")
echo "built the database in $(( SECONDS - start )) s ($(du -h "$tmp/bench.db" | cut -f1)): $ids"

"$bin" web --db "$tmp/bench.db" --host 127.0.0.1 --port 0 >"$tmp/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$tmp/server.log")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "web-latency: server did not start: $(cat "$tmp/server.log")" >&2; exit 1; }

# The replay: an episode in the middle of the run (and its group for the group view).
mid=$(( episodes / 2 ))
echo "server on 127.0.0.1:$port; replay episode $mid; $requests requests each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$fixture" latency --port "$port" --requests "$requests" --episode "$mid"
# The same database in the browser (skipped without Chromium).
if command -v node >/dev/null 2>&1; then
  node bench/web-ui-timing.mjs "http://127.0.0.1:$port" "$mid" "${UI_REPEATS:-10}"
fi
